from soko_bench.cli import main

main()

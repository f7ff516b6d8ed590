from soko.cli import main

main()

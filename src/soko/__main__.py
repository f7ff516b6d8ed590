from soko.cli import main

if __name__ == "__main__":  # not when a spawned child imports this module
    main()

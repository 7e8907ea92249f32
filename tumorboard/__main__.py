from tumorboard.cli import main

main()

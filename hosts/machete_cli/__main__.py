from machete_cli.main import main

main()

from emb_cli.cli import main

main()

from qmpmodel.cli.main import main

main()

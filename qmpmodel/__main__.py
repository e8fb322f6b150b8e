from qmpmodel.cli import main

main()

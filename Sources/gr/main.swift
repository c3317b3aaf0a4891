import GRCLI

GRCommand.main()

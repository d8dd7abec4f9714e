from simfleet.drivers.cli import main

main()

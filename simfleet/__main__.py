from simfleet.drivers.cli import main

main(prog_name="simfleet")

"""`python -m skysynth.outpaint.cli_entry ...` = the `skysynth-outpaint` console command."""

from skysynth.outpaint.cli import console_main

if __name__ == "__main__":
    console_main()

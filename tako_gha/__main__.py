from tako_gha.surfaces.cli import main

main()

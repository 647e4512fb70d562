"""Allows ``python -m cds_service serve ...`` as well as the ``cds-service`` script."""

from cds_service.cli import main

if __name__ == "__main__":
    main()

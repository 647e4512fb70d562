"""Render the example templates for a given "now" (see ``cds_service.examples``).

Kept as the documented entry point ``python -m fhir_examples.render OUT_DIR``; the renderer itself
lives in the package so that the service only ever reads data from this folder.
"""

from __future__ import annotations

import sys

from cds_service.examples import (
    EXAMPLES_DIR,
    Example,
    TemplateError,
    add_months,
    example_names,
    format_moment,
    load_example,
    main,
    render,
    render_string,
    shift,
    write_rendered,
)

__all__ = [
    "EXAMPLES_DIR",
    "Example",
    "TemplateError",
    "add_months",
    "example_names",
    "format_moment",
    "load_example",
    "main",
    "render",
    "render_string",
    "shift",
    "write_rendered",
]

if __name__ == "__main__":
    sys.exit(main())

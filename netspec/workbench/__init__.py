"""The spec author's workbench: the live page of `netspec serve` and the page of `netspec draw -o x.html`."""

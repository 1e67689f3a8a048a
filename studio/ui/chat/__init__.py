"""The Chat tab: ``tab`` lays it out and wires it, ``view`` holds its pure helpers."""

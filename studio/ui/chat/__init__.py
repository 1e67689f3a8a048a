"""The Chat tab: ``tab`` lays it out and wires it, ``handlers`` answers, votes and lists,
``view`` holds its pure helpers."""

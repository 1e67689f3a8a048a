"""The Scoring tab: ``tab`` lays it out and wires it, ``view`` resolves picks and renders."""

"""The Data tab: ``tab`` lays it out, ``handlers`` / ``actions`` do its work, ``html`` renders."""

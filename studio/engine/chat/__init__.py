"""Chat: base and tuned answers streamed side by side from one copy of the base weights.

``targets`` resolves what a person picked (model, run, adapter folder), ``engine`` loads weights
and streams answers, ``decode`` is the multi-lane token loop, ``votes`` the blind A/B votes.
"""

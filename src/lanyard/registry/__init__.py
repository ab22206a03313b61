"""The working group's registry: oblivious evaluation, signed snapshots, administration.

It never sees a name or an e-mail address: events and the WG's own admin tool send blinded
points, and records are stored as Y = k * P points (spec SCREEN-v1 §5).
"""

"""Behaviour models: when cars arrive, how long they stay, how much power they draw.

Pure numpy and stdlib: no sockets, no event loop, no clock reads. Randomness comes from one
`numpy.random.Generator` tree rooted at the scenario seed.
"""

"""Classification: model loading, batched inference, training and evaluation.

Nothing heavy is imported here; import the submodules (``classifier``, ``train``, ``evaluate``).
"""

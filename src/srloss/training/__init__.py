"""The parts of the training loop (``srloss.training.loop`` runs them).

* ``config``: the typed ``training:`` settings, defaults read from the config schema;
* ``setup``: the networks, the loss, the optimisers and the batches of one run;
* ``steps``: one generator step and the discriminator steps, free of host-device syncs;
* ``meter``: loss values kept on the device over a logging window, read once per window;
* ``state``: what a run has done so far (history, best weights), saved and resumed;
* ``progress``: the progress line, the heartbeat file (and optional TensorBoard scalars) at each log point;
* ``outputs``: the files a finished run leaves.

Nothing here imports torch at package import, so ``srloss.study`` can use ``config`` cheaply.
"""

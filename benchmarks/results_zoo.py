"""The zoo as ``make results`` sees it: which models it trains, how fast each steps (to size an
"epoch"), and why the others are not trained here. Read by ``results.py`` (the driver) and
``results_report.py`` (the pages), which otherwise do not import each other both ways."""

# Images/s of each model's train step on a 2-core VM (README "How long it takes"): used only to
# size an "epoch" so that a budget holds about results.EVAL_POINTS of them; a faster machine simply
# evaluates more often. Unknown models take one pass over the data per epoch.
SPEED = {"vae_mlp_2d": 18000, "vae_mlp": 20000, "mlp_gan": 15000, "mlp_gan_small": 14000, "mlp_gan_wide": 6000,
         "cvae": 350, "vae_deconv": 340, "dcgan_32": 300, "acgan": 140, "dcgan": 100, "cgan": 90,
         "dcgan_upsample": 62, "vae_conv": 34, "wgan": 27 * 5, "wgan_gp": 14 * 5}
# The reports' models (and the two families beyond them the reports cite); vae_small, built for issue 27's
# goals rather than from a report, is measured by benchmarks/papers.py instead.
ZOO = ("vae_mlp_2d", "vae_mlp", "mlp_gan", "mlp_gan_small", "mlp_gan_wide", "cvae", "vae_deconv", "dcgan_32",
       "acgan", "dcgan", "cgan", "dcgan_upsample", "vae_conv", "wgan", "wgan_gp")
NOT_HERE = {"acwgan": "Char74K is not on this machine (letters; on MNIST it is acgan with a linear critic)",
            "vae_faces": "CelebA is not on this machine; resized 28x28 grey images say nothing about faces",
            "dcgan_faces": "CelebA is not on this machine; resized 28x28 grey images say nothing about faces",
            "gan_faces_dense": "CelebA is not on this machine (and 300M parameters: a GPU's job)"}

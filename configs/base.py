r"""Every default of tf_smvae; experiment configs override a handful of fields.

    python bin/train.py --config=configs/base.py --workdir=runs/base

The plain VAE of the paper on Fashion-MNIST: MLP 2 x 200 encoder and decoder, latent 10,
Bernoulli likelihood on statically binarised images, standard normal prior.
"""

import ml_collections
from ml_collections import config_dict

from tf_smvae.evaluation.kid import DEFAULT_NUM_SUBSETS as KID_NUM_SUBSETS
from tf_smvae.evaluation.kid import DEFAULT_SUBSET_SIZE as KID_SUBSET_SIZE


def get_config():
    """Returns the base config."""
    config = ml_collections.ConfigDict()
    config.seed = 0

    config.dataset = ml_collections.ConfigDict()
    config.dataset.name = "fashion_mnist"
    config.dataset.data_dir = config_dict.placeholder(str)
    config.dataset.binarization = "static"  # static | dynamic | none (bernoulli only)
    config.dataset.image_size = config_dict.placeholder(int)  # image_folder only
    config.dataset.num_train_examples = config_dict.placeholder(int)  # None: the whole split
    config.dataset.num_test_examples = config_dict.placeholder(int)

    config.model = ml_collections.ConfigDict()
    config.model.name = "vae"  # vae | hvae (top-down hierarchical)
    config.model.latent_dim = 10
    config.model.latent_dims = (5, 10)  # hvae only: (n_1, ..., n_L), top layer first
    config.model.feature_dim = 64  # hvae only: width of the deterministic features d_l, e_l
    config.model.block_units = (64,)  # hvae only: hidden widths of the small top-down MLPs
    config.model.residual = True  # hvae only: residual skips d_l = d_{l-1} + f_l(...)
    config.model.min_prior_scale = 1e-3  # hvae only: floor s_min of the prior scales
    config.model.network = "mlp"  # mlp | conv
    config.model.hidden_units = (200, 200)  # mlp only
    config.model.scale_fn = "softplus"  # encoder scale: softplus | exp
    config.model.likelihood = "bernoulli"  # bernoulli | discretized_logistic | gaussian
    config.model.learn_likelihood_scale = False  # discretized_logistic / gaussian
    config.model.likelihood_variance = 0.1  # initial sigma^2 (discretized_logistic, gaussian)
    config.model.prior = "standard_normal"  # standard_normal | mog | vamp
    config.model.prior_num_components = 10  # mog / vamp
    config.model.analytic_kl = True  # closed-form KL where the prior allows it

    config.kernel = ml_collections.ConfigDict()
    config.kernel.name = "none"  # none (plain VAE) | mala | hmc
    config.kernel.adaptation = "speed_measure"  # speed_measure | dual_averaging | none
    config.kernel.preconditioner = "diag"  # identity | diag | tril | amortised | amortised_tril
    config.kernel.num_steps = 5  # K transitions per training step
    config.kernel.num_leapfrog_steps = 2  # L (hmc only)
    config.kernel.mcmc_start_epoch = 0  # epochs of plain-ELBO pre-training
    config.kernel.learning_rate = 1e-3  # kernel optimizer (Adam) on (h, C)
    config.kernel.target_accept_prob = config_dict.placeholder(float)  # None: 0.55 / 0.65
    config.kernel.init_step_size = 0.1
    config.kernel.entropy_weight = 1.0  # beta_0
    config.kernel.entropy_weight_rate = 0.02  # rho_beta of the beta rule
    config.kernel.gradient_mode = "stop_target_grads"  # stop_target_grads | full
    config.kernel.entropy_estimator = "auto"  # exact | stochastic | auto (hmc, L > 1)
    config.kernel.restart_each_batch = False  # dual averaging restarts every batch
    # At the switch to MCMC: C from the encoder's scales, h by a step-size search.
    config.kernel.warm_start = True  # h by a step-size search, C from the encoder, at the switch
    config.kernel.num_eval_chains = 16  # M chains per example for the IS proposal
    config.kernel.eval_proposal = "mean"  # mean | mixture

    config.train = ml_collections.ConfigDict()
    config.train.epochs = 20
    config.train.batch_size = 100
    config.train.learning_rate = 1e-3
    config.train.steps_per_epoch = config_dict.placeholder(int)  # None: one pass over the data
    config.train.jit_compile = True
    # Steps per `fit` call of the compiled step (less per-step dispatch); the largest divisor
    # of it that also divides the steps per epoch and checkpoint_every_steps is used.
    config.train.steps_per_execution = 20
    config.train.checkpoint_every_steps = 500  # also at every epoch end; 0: epoch ends only
    config.train.keep_checkpoints = 2
    config.train.num_sample_images = 64  # prior samples in the per-epoch PNG grid
    config.train.verbose = 1  # Keras progress bar: 0 silent, 1 bar, 2 one line per epoch
    config.train.strategy = "default"  # default | mirrored | multi_worker | tpu
    config.train.cpu_devices = 0  # 0: leave devices alone; N >= 2: N logical CPU devices

    config.eval = ml_collections.ConfigDict()
    config.eval.num_samples = 1000  # importance samples per example
    config.eval.tau = 1.5  # variance inflation of the proposal
    # None, or a second inflation: half the particles from it, weighted against the mixture
    # of both (defensive importance sampling; tighter when the encoder is too narrow).
    config.eval.defensive_tau = config_dict.placeholder(float)
    config.eval.chunk_size = config_dict.placeholder(int)  # None: chosen from memory
    config.eval.batch_size = 100
    config.eval.num_examples = config_dict.placeholder(int)  # None: the whole test split
    config.eval.seed = 0
    config.eval.kid_feature_extractor = config_dict.placeholder(str)  # .keras path or "inception"
    config.eval.inception_weights = config_dict.placeholder(str)  # notop InceptionV3 .h5
    config.eval.kid_num_samples = 10000  # model samples compared with the test split
    config.eval.kid_num_subsets = KID_NUM_SUBSETS
    config.eval.kid_subset_size = KID_SUBSET_SIZE
    config.eval.kid_num_real = config_dict.placeholder(int)  # None: the whole test split
    config.eval.kid_real_images = "grey_levels"  # grey_levels | likelihood (as the model saw them)
    return config

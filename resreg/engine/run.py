"""`train(config)`: build data, model, recipe and engine from a validated config, then run the loop.

This is what `resreg train` calls in every process (one, or each torchrun rank). The order matters
for reproducibility: seeds are set before the model is built (same initial weights everywhere),
the optimizer is built on the bare model, then DDP and torch.compile wrap it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import torch

from resreg.config.options import EngineOptions, EvalOptions
from resreg.data.augment import AugmentOptions
from resreg.data.loader import make_loader
from resreg.engine import checkpoint, distributed, report, rundir
from resreg.engine.distributed import Dist
from resreg.engine.evaluate import eval_splits
from resreg.engine.loop import Run
from resreg.engine.metrics_log import MetricsLog
from resreg.engine.precision import Precision, resolve_engine_options, usable_cores
from resreg.engine.preprocessing import of_training_data
from resreg.errors import ConfigError
from resreg.layout import MODEL_FILE, checkpoint_file
from resreg.models import create_model
from resreg.plugins import get_registry
from resreg.recipe import Recipe
from resreg.recipe import build_recipe as recipe_from_spec
from resreg.registry import Registry
from resreg.weights import save_model


def configure_torch(options: EngineOptions, device: torch.device) -> None:
    """Seeds, threads, determinism and cuDNN autotuning (which deterministic mode turns off)."""
    torch.manual_seed(options.seed)
    if options.threads and options.threads != torch.get_num_threads():
        torch.set_num_threads(options.threads)
    if options.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS refuses deterministic mode without it
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not options.deterministic
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True


def build_data(config: dict[str, Any], registry: Registry, extra: dict[str, Any]) -> Any:
    """The DataSource of `data:`, with the recipe's additions (e.g. val_split) where the spec leaves them unset."""
    spec = config.get("data")
    if spec is None:
        raise ConfigError(f"data: missing: name a data set (known: {', '.join(registry.names('dataset'))})")
    spec = {"type": spec} if isinstance(spec, str) else dict(spec)
    entry, _ = registry.validate("dataset", spec, "data")
    spec |= {k: v for k, v in extra.items() if k in entry.params and k not in spec}
    return registry.build("dataset", spec, where="data")


def build_recipe(config: dict[str, Any], registry: Registry) -> Recipe:
    spec = config.get("train")
    if spec is None:
        raise ConfigError(f"train: missing: name a recipe (known: {', '.join(registry.names('recipe'))})")
    return recipe_from_spec(spec, registry, where="train")


def make_eval_loaders(data: Any, augment: Any, options: EvalOptions, info: Dist) -> dict[str, Any]:
    """Loaders of the splits `eval.splits` names (every split the data set has when it names none),
    normalised as in training; a named split the data set lacks is an error."""
    loaders = {}
    for split, source in eval_splits(data, options.splits).items():
        loaders[split] = make_loader(
            source, batch_size=options.batch_size, train=False, augment=augment, device=info.device,
            seed=0, rank=info.rank, world_size=info.world_size, stats=data,
            processes_on_node=distributed.processes_sharing_cores(info.local_world_size),
        )  # fmt: skip
    return loaders


def train(
    config: dict[str, Any], *, source: str, run_dir: Path | None = None, resume: bool = False, hook: Any = None
) -> str:
    """Train as `config` says (validated; see resreg.config.validate_config); returns how the run ended.

    `run_dir` is where to write (default runs/<name>, chosen by rank 0); with `resume` the run
    continues from run_dir/checkpoints/last.pt. `hook` is the plugins' hook relay (training callbacks).
    """
    registry = get_registry()
    options = EngineOptions(**config.get("engine") or {})
    eval_options = EvalOptions(**config.get("eval") or {})
    info = distributed.setup(options.device)
    started = time.perf_counter()
    recipe, run = None, None
    try:
        sharing = distributed.processes_sharing_cores(info.local_world_size)
        options, choices = resolve_engine_options(options, info.device, sharing)
        configure_torch(options, info.device)
        recipe = build_recipe(config, registry)
        data = build_data(config, registry, recipe.data_args())
        augment = AugmentOptions.of(recipe.augment)
        if config.get("model") is None:
            raise ConfigError("model: missing: name a preset (model: resnet20) or a builder spec")
        model = create_model(config["model"], num_classes=data.num_classes, in_chans=data.in_chans)
        # what the evaluator feeds the model and the class names, saved with its weights (resreg.artifact)
        of_training_data(data, augment).attach(model)
        model.to(info.device)
        if options.channels_last:
            model.to(memory_format=torch.channels_last)

        train_loader = make_loader(
            data.train, batch_size=recipe.batch_size, train=True, augment=augment, device=info.device,
            seed=options.seed, rank=info.rank, world_size=info.world_size, stats=data, processes_on_node=sharing,
        )  # fmt: skip
        choices |= train_loader.settings  # image folders: where JPEGs decode and how many processes read them
        eval_loaders = make_eval_loaders(data, augment, eval_options, info)
        recipe.check_eval_splits(list(eval_loaders), data.name)
        steps_per_epoch = len(train_loader)
        ema = None
        if options.ema > 0:
            from timm.utils import ModelEmaV3

            ema = ModelEmaV3(model, decay=options.ema)
        train_module = distributed.wrap(model, info, sync_bn=options.sync_bn)
        if options.compile:
            train_module = torch.compile(train_module)
        run = Run(
            dir=_choose_dir(info, config, source, run_dir),
            config=config,
            model=model,
            step=0,
            total_steps=recipe.total_steps(steps_per_epoch),
            steps_per_epoch=steps_per_epoch,
            info=info,
            options=options,
            eval_options=eval_options,
            train_module=train_module,
            optimizer=recipe.build_optimizer(model.parameters()),
            schedule=recipe.build_schedule(steps_per_epoch),
            precision=Precision(options.precision, info.device),
            loader=train_loader,
            eval_loaders=eval_loaders,
            eval_every=recipe.eval_every_steps(steps_per_epoch),
            label_smoothing=recipe.label_smoothing,
            ema=ema,
            hook=hook if info.is_main else None,
        )
        if resume:
            run.load_state_dict(checkpoint.load(checkpoint_file(run.dir, checkpoint.LAST)))
        if info.is_main:
            rundir.write_config(run.dir, config)
            run.log = MetricsLog(run.dir, resume_step=run.step if resume else None)
            if options.progress != "none":
                report.say(_banner(run, choices, data, recipe.batch_size))
        outcome = run.fit()
        if outcome == "finished" and info.is_main:
            weights = _save_final(run)
            if options.progress != "none":
                seconds = time.perf_counter() - started
                report.say(report.final_line(run.dir, run.step, run.last_metrics, weights, seconds))
        if info.is_main:
            run.call_hook("resreg_run_end", run=run, metrics=run.last_metrics)
        return outcome
    except Exception as exc:
        if not report.is_out_of_memory(exc):
            raise
        if run is not None and run.phase == "eval":
            key, batch = "eval.batch_size", eval_options.batch_size
        else:
            key, batch = "train.batch_size", recipe.batch_size if recipe is not None else 0
        oom = report.out_of_memory(exc, device=info.device, key=key, batch_size=batch, world_size=info.world_size)
        raise oom from exc  # one line; --debug shows the allocation's traceback
    finally:
        distributed.teardown(info)


def check_before_spawning(config: dict[str, Any], nproc: int) -> None:
    """What `--nproc N` checks once, before it starts N processes that would each report the same
    error: the recipe, the data set (it is loaded) and the batch's split over the processes. Warns
    when the processes outnumber the GPUs (or, without GPUs, the cores this process may use)."""
    registry = get_registry()
    options = EngineOptions(**config.get("engine") or {})
    recipe = build_recipe(config, registry)
    build_data(config, registry, recipe.data_args())
    if recipe.batch_size % nproc:
        raise ConfigError(f"train.batch_size={recipe.batch_size} (the global batch) must divide by --nproc {nproc}")
    device = distributed.pick_device(options.device)
    if device.type == "cuda":
        have, what = torch.cuda.device_count(), "GPU(s)"
    else:
        have, what = usable_cores(), f"CPU core(s) and no GPU ({device.type})"
    if nproc > have:
        report.say(f"resreg train: warning: --nproc {nproc} starts {nproc} processes for {have} {what}: "
                   "they will compete for them and run slower than fewer processes would")  # fmt: skip


def _choose_dir(info: Dist, config: dict[str, Any], source: str, run_dir: Path | None) -> Path:
    """The run directory: given, or a new runs/<name> picked by rank 0 and shared with the others."""
    chosen = run_dir if run_dir is not None else rundir.new_run_dir(rundir.run_name(config, source))
    return Path(distributed.broadcast_object(info, str(chosen)))


def _banner(run: Run, choices: dict[str, Any], data: Any, batch_size: int) -> str:
    spec = run.config.get("model")
    name = spec if isinstance(spec, str) else str(spec.get("preset") or spec.get("type") or "model")
    return report.banner(
        run_dir=run.dir,
        device=run.info.device,
        world_size=run.info.world_size,
        choices=choices,
        model_name=name,
        parameters=sum(p.numel() for p in run.model.parameters()),
        macs=report.count_macs(run.model, data.in_chans, data.image_size, run.info.device),
        data=data,
        batch_size=batch_size,
        step=run.step,
        total_steps=run.total_steps,
        steps_per_epoch=run.steps_per_epoch,
        eval_every=run.eval_every,
        checkpoint_every=run.options.checkpoint_every,
    )


def _save_final(run: Run) -> Path:
    model = run.ema.module if run.ema is not None else run.model
    model.resreg_spec = run.model.resreg_spec
    for name in ("pretrained_cfg", "label_names", "resreg_mean_image"):  # preprocessing, classes (resreg.artifact)
        setattr(model, name, getattr(run.model, name, None))
    figures = {k: v for k, v in run.last_metrics.items() if k.endswith(("error", "loss"))}
    path = run.dir / MODEL_FILE
    save_model(model, path, metadata={"step": run.step, "metrics": figures})
    return path

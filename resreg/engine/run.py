"""`train(config)`: build data, model and engine from a RunConfig (resreg.config.validate_config), then run the loop.

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

from resreg.config.options import EngineOptions
from resreg.config.run_config import RunConfig
from resreg.data.loader import make_loader
from resreg.engine import checkpoint, distributed, report, rundir
from resreg.engine.assemble import build_data, build_model
from resreg.engine.distill import load_teacher
from resreg.engine.distributed import Dist
from resreg.engine.evaluate import make_eval_loaders
from resreg.engine.loop import Run
from resreg.engine.metrics_log import MetricsLog
from resreg.engine.objective import Objective
from resreg.engine.optim import build_optimizer
from resreg.engine.precision import Choice, Precision, resolve_compile, resolve_engine_options
from resreg.engine.preprocessing import of_training_data
from resreg.errors import ConfigError
from resreg.layout import MODEL_FILE, checkpoint_file
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


def train(
    config: RunConfig,
    *,
    source: str,
    registry: Registry,
    run_dir: Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    hook: Any = None,
) -> str:
    """Train as `config` says; returns how the run ended.

    `run_dir` is where to write (default runs/<name>, chosen by rank 0); with `resume` the run
    continues from run_dir/checkpoints/last.pt, else a run already there is an error unless
    `overwrite`. Rank 0 holds the directory's lock throughout. `registry` is what the model, data and
    recipe are built from, `hook` the plugins' hook relay: the CLI hands both over.
    """
    options, eval_options = config.engine, config.eval
    record = config.to_dict()  # what config.yaml holds and what the hooks see as run.config
    info = distributed.setup(options.device)
    started = time.perf_counter()
    recipe, run, lock = None, None, None
    try:
        directory = _choose_dir(info, record, source, run_dir)
        if info.is_main:  # before the data is loaded: a directory in use is refused at once
            lock = rundir.claim(directory, resume=resume, overwrite=overwrite)
        sharing = distributed.processes_sharing_cores(info.local_world_size)
        options, choices = resolve_engine_options(options, info.device, sharing)
        configure_torch(options, info.device)
        recipe = config.require_recipe(registry)
        data = build_data(config, registry)
        augment = recipe.augment
        model = build_model(config, data, registry)
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

            ema = ModelEmaV3(model, decay=options.ema)  # a deep copy: the record attached above comes with it
        teacher = load_teacher(recipe.teacher, registry, info.device) if recipe.teacher else None
        choices["lr"] = Choice(*recipe.scaled_lr())  # the banner says the lr and where it comes from
        train_module = distributed.wrap(model, info, sync_bn=options.sync_bn)
        choices["compile"] = resolve_compile(options.compile, info.device, recipe.total_steps(steps_per_epoch),
                                             data.image_size, info.world_size)  # fmt: skip
        if choices["compile"].value:
            train_module = torch.compile(train_module, mode=choices["compile"].value)
        run = Run(
            dir=directory,
            config=record,
            model=model,
            step=0,
            total_steps=recipe.total_steps(steps_per_epoch),
            steps_per_epoch=steps_per_epoch,
            info=info,
            options=options,
            eval_options=eval_options,
            train_module=train_module,
            optimizer=build_optimizer(recipe, model),
            schedule=recipe.build_schedule(steps_per_epoch),
            precision=Precision(options.precision, info.device),
            loader=train_loader,
            eval_loaders=eval_loaders,
            eval_every=recipe.eval_every_steps(steps_per_epoch),
            objective=Objective.of(recipe, num_classes=data.num_classes, seed=options.seed, teacher=teacher),
            ema=ema,
            hook=hook if info.is_main else None,
        )
        if resume:
            run.load_state_dict(checkpoint.load(checkpoint_file(run.dir, checkpoint.LAST)))
            if _already_finished(run):
                report.say(f"resreg train: {run.dir} finished at step {run.step:,}: nothing to do "
                           "(a longer train.length continues it)")  # fmt: skip
                return "finished"
        if info.is_main:
            rundir.write_config(run.dir, record)
            run.log = MetricsLog(run.dir, resume_step=run.step if resume else None)
            for row in run.log.kept:  # the figures so far: a run resumed at its last step reports them
                run.last_metrics.update(row)
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
        if lock is not None:
            lock.release()
        distributed.teardown(info)


def _choose_dir(info: Dist, config: dict[str, Any], source: str, run_dir: Path | None) -> Path:
    """The run directory: given, or a new runs/<name> picked by rank 0 and shared with the others."""
    chosen = run_dir if run_dir is not None else rundir.new_run_dir(rundir.run_name(config, source))
    return Path(distributed.broadcast_object(info, str(chosen)))


def _already_finished(run: Run) -> bool:
    """Whether a resumed run has nothing left to do: its checkpoint is at the last step and its final
    model was written there (rank 0 looks; every rank gets its answer). A checkpoint past the last
    step of a run that did not finish there is an error."""
    written = rundir.finished_step(run.dir) if run.info.is_main else None
    written = distributed.broadcast_object(run.info, written)
    if written == run.step and run.step >= run.total_steps:
        return True
    if run.step > run.total_steps:
        raise ConfigError(
            f"--resume {run.dir}: its checkpoint is at step {run.step:,}, past this config's last step "
            f"{run.total_steps:,}: give a train.length that reaches beyond it"
        )
    return False


def _banner(run: Run, choices: dict[str, Any], data: Any, batch_size: int) -> str:
    return report.banner(
        run_dir=run.dir,
        device=run.info.device,
        world_size=run.info.world_size,
        choices=choices,
        model_name=run.config["model"]["type"],  # the record holds the model spec with its preset expanded
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
    figures = {k: v for k, v in run.last_metrics.items() if k.endswith(("error", "loss"))}
    path = run.dir / MODEL_FILE
    save_model(run.evaluated_model, path, metadata={"step": run.step, "metrics": figures})
    return path

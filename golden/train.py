"""Train a reference network: ``python -m golden.train --dataset fashion-mnist --arch cnn --out CKPT``.

Float training uses AdamW with a cosine learning-rate schedule; Fashion-MNIST
images are flipped left-right at random. ``--quantise T --init CKPT``
fine-tunes a trained float checkpoint with the clipped activation of
:mod:`golden.quant` (``2^T - 1`` levels), its clip values first set to the
99.9th percentile of each ReLU's output on the training data.
"""

from __future__ import annotations

import argparse
import logging
import math
import time

import torch
from torch import nn
from golden.progress import progress_bar

from golden.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from golden.conversion.calibrate import percentile
from golden.data import DATASETS, load_dataset
from golden.models import ARCHITECTURES, build_model
from golden.quant import QuantisedReLU, quantised_activation_factory

__all__ = ["evaluate", "main", "train"]

logger = logging.getLogger("golden.train")

# Percentile of each ReLU output that initialises a quantised activation's clip value.
_CLIP_INIT_PERCENTILE = 99.9
_CLIP_INIT_BATCHES = 8
# Largest T of --quantise: golden.quant.levels_for_timesteps takes T in [1, 30].
QUANTISE_MAX_TIMESTEPS = 30


def evaluate(model: nn.Module, loader, *, desc: str = "test") -> float:
    """Return the accuracy of ``model`` on ``loader`` in percent."""
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in progress_bar(loader, desc=desc, leave=False):
            correct += (model(x).argmax(1) == y).sum().item()
            total += len(y)
    return 100.0 * correct / total


def _init_clips(float_model: nn.Module, quantised: nn.Module, loader) -> None:
    """Set each quantised activation's clip to a high percentile of the matching float ReLU's output."""
    relus = [m for m in float_model.modules() if isinstance(m, nn.ReLU)]
    clips = [m for m in quantised.modules() if isinstance(m, QuantisedReLU)]
    if len(relus) != len(clips):
        raise ValueError(f"float model has {len(relus)} ReLU modules but the quantised one {len(clips)} activations")
    sums = [0.0] * len(relus)
    current: dict[int, torch.Tensor] = {}
    handles = [
        relu.register_forward_hook(lambda module, args, out, i=i: current.__setitem__(i, out))
        for i, relu in enumerate(relus)
    ]
    float_model.eval()
    batches = 0
    with torch.no_grad():
        for x, _ in loader:
            float_model(x)
            for i in range(len(relus)):
                sums[i] += percentile(current[i], _CLIP_INIT_PERCENTILE)
            batches += 1
            if batches == _CLIP_INIT_BATCHES:
                break
    for handle in handles:
        handle.remove()
    with torch.no_grad():
        for clip, total in zip(clips, sums):
            clip.clip.fill_(max(total / batches, 1e-3))


def train(
    model: nn.Module,
    train_loader,
    test_loader,
    *,
    epochs: int,
    lr: float,
    weight_decay: float,
    flip: bool,
) -> float:
    """Train ``model`` in place and return its final test accuracy in percent."""
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs * len(train_loader))
    loss_fn = nn.CrossEntropyLoss()
    accuracy = 0.0
    for epoch in range(1, epochs + 1):
        model.train()
        start = time.monotonic()
        bar = progress_bar(train_loader, desc=f"epoch {epoch}/{epochs}", leave=False)
        for x, y in bar:
            if flip:
                mask = torch.rand(len(x)) < 0.5
                x = torch.where(mask[:, None, None, None], x.flip(-1), x)
            optimiser.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimiser.step()
            schedule.step()
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        accuracy = evaluate(model, test_loader)
        logger.info("epoch %d/%d: test accuracy %.2f%% (%.0f s)", epoch, epochs, accuracy, time.monotonic() - start)
    return accuracy


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m golden.train", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=DATASETS, required=True)
    parser.add_argument("--arch", choices=ARCHITECTURES, help="architecture (taken from --init when fine-tuning)")
    parser.add_argument("--out", required=True, help="checkpoint file to write")
    parser.add_argument("--epochs", type=int, default=6, help="training epochs (default 6)")
    parser.add_argument("--seed", type=int, default=0, help="seed of initialisation and shuffling (default 0)")
    parser.add_argument("--batch-size", type=int, default=128, help="training batch size (default 128)")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default 2e-3, 2e-4 for --quantise)")
    parser.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW weight decay (default 1e-4)")
    parser.add_argument(
        "--quantise", type=int, metavar="T", default=None,
        help="fine-tune --init with a clipped activation of 2^T - 1 levels for T-step conversion",
    )
    parser.add_argument("--init", help="float checkpoint to fine-tune (required with --quantise)")
    args = parser.parse_args(argv)
    _check_args(parser, args)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    try:
        _run(parser, args)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Reject invalid options before any data is loaded."""
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1, not {args.epochs}")
    if args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, not {args.batch_size}")
    if args.lr is not None and not (args.lr > 0 and math.isfinite(args.lr)):
        parser.error(f"--lr must be a finite number > 0, not {args.lr:g}")
    if not (args.weight_decay >= 0 and math.isfinite(args.weight_decay)):
        parser.error(f"--weight-decay must be a finite number >= 0, not {args.weight_decay:g}")
    if args.quantise is not None and not 1 <= args.quantise <= QUANTISE_MAX_TIMESTEPS:
        parser.error(
            f"--quantise must be in [1, {QUANTISE_MAX_TIMESTEPS}], not {args.quantise}: it is the number of "
            f"timesteps T the network will be converted for"
        )
    if args.quantise is not None and args.init is None:
        parser.error("--quantise needs --init CKPT, the float checkpoint to fine-tune")
    if args.quantise is None and args.arch is None:
        parser.error("--arch is required unless --quantise fine-tunes an --init checkpoint")


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Train and save the checkpoint of the parsed command line."""
    train_set = load_dataset(args.dataset, "train")
    test_set = load_dataset(args.dataset, "test")
    train_loader = train_set.loader(args.batch_size, shuffle=True, seed=args.seed)
    test_loader = test_set.loader(1000)

    if args.quantise is not None:
        payload = load_checkpoint(args.init)
        if payload["meta"]["dataset"] != args.dataset:
            parser.error(f"--init was trained on {payload['meta']['dataset']}, not {args.dataset}")
        float_model = model_from_checkpoint(payload)
        arch = payload["meta"]["arch"]
        model = build_model(arch, train_set.input_shape, train_set.num_classes, quantised_activation_factory(args.quantise))
        model.load_state_dict(payload["state_dict"], strict=False)
        _init_clips(float_model, model, train_loader)
        logger.info("quantised %s at T = %d: accuracy before fine-tuning %.2f%%", arch, args.quantise,
                    evaluate(model, test_loader))
        lr = 2e-4 if args.lr is None else args.lr
    else:
        arch = args.arch
        model = build_model(arch, train_set.input_shape, train_set.num_classes)
        lr = 2e-3 if args.lr is None else args.lr

    logger.info("training %s on %s: %d epochs, batch %d, lr %g", arch, args.dataset, args.epochs, args.batch_size, lr)
    accuracy = train(
        model, train_loader, test_loader, epochs=args.epochs, lr=lr, weight_decay=args.weight_decay,
        flip=args.dataset == "fashion-mnist",
    )
    meta = {
        "arch": arch,
        "dataset": args.dataset,
        "input_shape": list(train_set.input_shape),
        "num_classes": train_set.num_classes,
        "pixel_max": train_set.pixel_max,
        "accuracy": accuracy,
        "epochs": args.epochs,
        "seed": args.seed,
        "quantise_timesteps": args.quantise,
    }
    save_checkpoint(args.out, model, meta)
    logger.info("wrote %s: test accuracy %.2f%%", args.out, accuracy)


if __name__ == "__main__":
    main()

"""Beyond the notebook: the problem zoo, --stay and --grid adaptive."""

import numpy as np
import pytest
import torch

from walker_tui.catalog import CATALOG, MODEL_PROBLEMS, PROBLEMS
from walker_tui.cli.args import PROBLEMS as CLI_PROBLEMS
from walker_tui.config import Config
from walker_tui.core.grid import parse_lrs
from walker_tui.core.problems.base import Problem
from walker_tui.core.problems.zoo import make_problem, problem_class
from walker_tui.core.trainers.loop import advance, run
from walker_tui.core.trainers.walker import Walker, make_walker
from walker_tui.viewmodel.history import History
from walker_tui.viewmodel.session import Session


def test_every_problem_is_known_to_the_cli():
    assert set(PROBLEMS) == set(CLI_PROBLEMS)
    families = {name for name in PROBLEMS if CATALOG[name].family}
    assert families | set(MODEL_PROBLEMS) == set(PROBLEMS)
    assert not families & set(MODEL_PROBLEMS)  # each problem is built one way


@pytest.mark.parametrize("name", [p for p in PROBLEMS if CATALOG[p].family])
def test_the_catalog_names_the_class_that_builds_each_family(name):
    assert issubclass(problem_class(name), Problem)


@pytest.mark.parametrize("name", [p for p in PROBLEMS if p != "mlp" and not CATALOG[p].model])
def test_walker_reaches_the_known_minimum_from_the_default_start(name):
    entry = CATALOG[name]
    problem = make_problem(name, 100, 17, "cpu")
    walker = Walker(problem, parse_lrs(entry.lrs))
    run(walker, entry.epochs, 0.0)
    best = problem.minimum()
    assert torch.allclose(walker.w.double(), best, atol=2e-3), (walker.w, best)
    # and the known minimum is a minimum: its loss is below the walk's start
    start = float(problem.losses(problem.w0[:, None])[0])
    at_best = float(problem.losses(best.float().to(problem.device)[:, None])[0])
    assert at_best < start


def test_quadratic_condition_number_is_kappa():
    problem = make_problem("quadratic", 100, 17, "cpu", kappa=25.0)
    eig = torch.linalg.eigvalsh(problem.hess)
    assert float(eig.max() / eig.min()) == pytest.approx(25.0)


def test_logistic_minimum_has_zero_gradient():
    problem = make_problem("logistic", 500, 3, "cpu")
    _, grad = problem.loss_grad(problem.minimum().float())
    assert float(grad.abs().max()) < 1e-4


def test_stay_never_lets_the_loss_go_up():
    # Rosenbrock with rates far too large for it: without --stay the walk blows up...
    problem = make_problem("rosenbrock", 100, 17, "cpu")
    wild = parse_lrs("0.01,0.05")
    losses = []
    run(Walker(problem, wild), 50, 0.0, on_epoch=lambda r: losses.append(r.loss))
    assert max(losses) > losses[0]
    # ...with it, the printed loss never rises.
    losses = []
    run(Walker(problem, wild, stay=True), 50, 0.0, on_epoch=lambda r: losses.append(r.loss))
    assert all(b <= a for a, b in zip(losses, losses[1:], strict=False))


def test_adaptive_grid_finds_rates_outside_its_start():
    """Rosenbrock wants ~1e-3; from the notebook's 0.1..0.9 grid a fixed walker never gets
    there, the adaptive one walks its grid down and reaches the minimum."""
    problem = make_problem("rosenbrock", 100, 17, "cpu")
    grid = parse_lrs("0.1:1:0.1")
    fixed = Walker(problem, grid)
    run(fixed, 300, 1e-6)
    rates = []
    adaptive = Walker(problem, grid, adaptive=True)
    outcome = run(adaptive, 5000, 1e-6, on_epoch=lambda r: rates.append(r.lr))
    assert outcome.state == "reached" and outcome.loss < 1e-6
    assert min(rates[1:]) < 0.01  # it found rates ten times below its starting range
    assert not torch.allclose(fixed.w.double(), problem.minimum(), atol=1e-2)


def test_an_adaptive_walk_that_stays_put_is_drawn_where_it_stands():
    """From Rosenbrock's start every rate of 0.1..0.9 overshoots: the walk stays at w0 while its
    grid moves down. Its position (and the app's path) stays at w0, not at the best of the
    rejected candidates far up the valley; a rewind to such an epoch lands there too."""
    problem = make_problem("rosenbrock", 100, 17, "cpu")
    walker = Walker(problem, parse_lrs("0.1:1:0.1"), adaptive=True)
    records = []
    run(walker, 3, 0.0, on_epoch=records.append)
    stayed = records[1]
    w0 = np.array([-1.2, 1.0])  # Rosenbrock's classic start
    np.testing.assert_allclose(records[0].position, w0)
    assert not stayed.moved
    np.testing.assert_allclose(stayed.position, w0)
    assert np.abs(stayed.weights[:, stayed.winner] - w0).max() > 1  # the rejected best candidate
    history = History()
    for rec in records:
        history.add(rec)
    np.testing.assert_allclose(history.curve.columns()[2][:2], [w0[0], w0[0]])
    np.testing.assert_allclose(history.curve.columns()[3][:2], [w0[1], w0[1]])
    again = Walker(problem, parse_lrs("0.1:1:0.1"), adaptive=True)
    records, _ = advance(again, 3, 0.0, 2)  # the run ends at epoch 2: rewound to it
    assert again.epoch == 2
    np.testing.assert_allclose(again.w.numpy(), w0)


def test_adaptive_batches_rewind_to_the_same_walk():
    cfg = Config(
        device="cpu",
        problem="himmelblau",
        lrs_spec=CATALOG["himmelblau"].lrs,
        grid="adaptive",
        min_loss=1e-6,
        epochs=500,
    )
    a, b = Session(cfg, 17), Session(cfg, 17)
    fa, fb = [], []
    while not a.finished:
        fa.append(a.step())
    while not b.finished:
        fb.extend(b.advance(7))
    key = lambda fs: [(f["walker"].epoch, f["walker"].lr, f["walker"].loss) for f in fs]  # noqa: E731
    assert key(fa) == key(fb)
    assert np.isclose(a.outcomes["walker"].loss, b.outcomes["walker"].loss)


def test_make_walker_reads_the_config():
    problem = make_problem("linear", 100, 17, "cpu")
    w = make_walker(problem, Config(stay=True, grid="adaptive"))
    assert w.rates[-1] == 0.0 and w.adaptive and w.stay


def test_race_grammar():
    from walker_tui.core.grid import GridError, parse_race

    assert parse_race("0.3,0.7") == [("stepper", 0.3), ("stepper", 0.7)]
    assert parse_race("stepper:0.3,momentum:0.1,adam:0.05,exact") == [
        ("stepper", 0.3),
        ("momentum", 0.1),
        ("adam", 0.05),
        ("exact", 0.0),
    ]
    for bad, words in [
        ("nesterov:0.1", "unknown racer"),
        ("adam", "needs a rate"),
        ("momentum:-1", "not positive"),
        ("0.3,,0.7", "empty item"),
    ]:
        with pytest.raises(GridError, match=words):
            parse_race(bad)
    with pytest.raises(GridError) as error:  # the walkers a race takes are named too
        parse_race("foo:1")
    assert str(error.value).endswith(
        "or a walker along a direction: walker:sgd, walker:momentum, walker:adam"
    )


def test_racers_reach_the_minimum_of_the_bowl():
    from walker_tui.core.trainers.racers import make_racer

    problem = make_problem("quadratic", 100, 17, "cpu")
    for name, lr in [("stepper", 0.15), ("momentum", 0.05), ("adam", 0.3), ("exact", 0.0)]:
        outcome = run(make_racer(name, problem, lr), 2000, 1e-8)
        assert outcome.state == "reached" and outcome.loss < 1e-8, (name, outcome)


def test_exact_line_search_is_the_best_single_step():
    """Its step lands at least as low as any rate of a fine grid from the same point."""
    from walker_tui.core.trainers.racers import make_racer

    problem = make_problem("linear", 100, 17, "cpu")
    exact = make_racer("exact", problem, 0.0)
    exact.step()
    rec = exact.step()
    walker = Walker(problem, parse_lrs("log:0.01:2:400"))
    walker.step()
    best = walker.step()
    assert float(rec.loss) <= float(best.loss) * (1 + 1e-5)


def test_exact_needs_a_quadratic_problem(capsys):
    from walker_tui.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["run", "--optimizer", "exact", "--problem", "rosenbrock"])
    assert exc.value.code == 2
    assert "only known for linear, quadratic" in capsys.readouterr().err


def test_bench_on_another_problem_races_both_walkers_and_counts_evaluations(capsys):
    from walker_tui.cli import main

    code = main(
        [
            "bench",
            "--problem",
            "quadratic",
            "--repeat",
            "1",
            "--min-loss",
            "1e-6",
            "--device",
            "cpu",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    rows = [r.split("\t") for r in out.splitlines() if r.count("\t") == 7][1:]
    names = [r[0] for r in rows]
    assert names == ["walker", "walker", "stepper", "momentum", "adam", "exact"]
    assert rows[1][1].startswith("adaptive")
    for r in rows:
        epochs, evals = int(r[3]), int(r[4])
        per = {"walker": 12, "exact": 2}.get(r[0], 1)
        # counted as they happen: the walker k an epoch (its convention), exact's first epoch
        # evaluates the start only, then the gradient and the curvature along it
        assert evals == (per * epochs - 1 if r[0] == "exact" else per * epochs)


def test_mlp_learns_the_moons_from_its_default_start():
    """The MLP's infimum is 0 (the moons are separable): the walker drives the loss towards it
    and classifies every point."""
    entry = CATALOG["mlp"]
    problem = make_problem("mlp", 200, 17, "cpu")
    assert problem.w0.shape == (337,)
    walker = Walker(problem, parse_lrs(entry.lrs))
    outcome = run(walker, entry.epochs, 0.02)
    assert outcome.state == "reached" and outcome.loss < 0.02
    assert problem.accuracy(walker.w) == 1.0


def test_mlp_slice_is_filter_normalised_and_fixed():
    problem = make_problem("mlp", 200, 17, "cpu")
    origin, basis = problem.plane()
    again = problem.plane()[1]
    assert np.array_equal(basis, again)  # fixed for the run
    # first layer (2 x 16): each neuron's slice of a direction has that neuron's weight norm
    w1 = origin[:32].reshape(2, 16)
    for col in range(2):
        d1 = basis[:32, col].reshape(2, 16)
        assert np.allclose(np.linalg.norm(d1, axis=0), np.linalg.norm(w1, axis=0))
        assert np.all(basis[32:48, col] == 0)  # biases left out
    # the plane through w0: its origin maps to (0, 0), the surface there is the loss at w0
    session = Session(Config(device="cpu", problem="mlp", lrs_spec=CATALOG["mlp"].lrs), 17)
    assert np.allclose(session.start, 0.0)
    surface = session.update_surface(np.array([0.0]), np.array([0.0]))
    j, i = np.argmin(np.abs(surface.ys)), np.argmin(np.abs(surface.xs))
    at_w0 = float(problem.losses(problem.w0[:, None])[0])
    assert surface.z.shape == (120, 120) and np.isfinite(surface.z).all()
    assert abs(surface.z[j, i] - at_w0) < 0.2 * at_w0


HOUSES = (
    "size,rooms,age,price\n50,2,10,150\n80,3,5,240\n65,2,30,170\n120,4,2,400\n"
    "90,3,15,260\n40,1,50,100\n"
)


def test_data_fits_least_squares_on_the_users_table(tmp_path):
    from walker_tui.core.data import load_table

    path = tmp_path / "houses.csv"
    path.write_text(HOUSES)
    table = load_table(path)
    assert table.features == ["size", "rooms", "age", "intercept"] and table.target == "price"
    assert np.allclose(table.x[:, :3].mean(0), 0) and np.allclose(table.x[:, :3].std(0), 1)
    # a well-conditioned table (the houses' size and rooms go together: gradient descent crawls)
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(60, 3)) * [1.0, 10.0, 0.1]
    price = feats @ [2.0, -0.3, 5.0] + 7 + rng.normal(size=60) * 0.1
    rows = zip(feats, price, strict=True)
    lines = ["a,b,c,y"] + [",".join(f"{v:.6f}" for v in (*f, p)) for f, p in rows]
    path.write_text("\n".join(lines) + "\n")
    table = load_table(path)
    cfg = Config(device="cpu", data=str(path), lrs_spec="log:0.01:1:9", epochs=3000, min_loss=0)
    session = Session(cfg, 17)
    while not session.finished:
        session.advance(64)
    best = np.linalg.lstsq(table.x, table.y, rcond=None)[0]
    walker = session.trainers["walker"]
    assert np.allclose(walker.w.double().numpy(), best, atol=1e-2)


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "is empty"),
        ("a,b\n1,x\n2,3\n", "'x' is not a number"),
        ("a,b\n1,nan\n2,3\n", "holds 'nan'"),
        ("a,b\n1,2\n", "at least two rows"),
        ("a\n1\n2\n", "at least two columns"),
        ("a,b\n1,2\n1,3\n", "one value only"),
        ("a,b\n1,2,3\n2,3\n", "has 3 cells"),
    ],
)
def test_bad_tables_get_one_line_errors(tmp_path, capsys, text, words):
    from walker_tui.cli import main

    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(SystemExit) as exc:
        main(["run", "--data", str(path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err


def test_missing_table_and_wrong_problem(tmp_path, capsys):
    from walker_tui.cli import main

    for argv, words in [
        (["run", "--data", str(tmp_path / "none.csv")], "does not exist"),
        (["run", "--problem", "beale", "--data", str(tmp_path / "none.csv")], "not beale"),
        (["run", "--target", "price"], "goes with --data"),
    ]:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2 and words in capsys.readouterr().err


def test_logistic_regression_on_the_users_table(tmp_path):
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(200, 2))
    labels = (feats @ [1.5, -2.0] + rng.normal(size=200) > 0).astype(int)
    lines = ["u,v,label"] + [
        f"{a:.5f},{b:.5f},{c}" for (a, b), c in zip(feats, labels, strict=True)
    ]
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n")
    cfg = Config(
        device="cpu",
        problem="logistic",
        data=str(path),
        lrs_spec="log:0.1:100:13",
        epochs=500,
        min_loss=0,
    )
    session = Session(cfg, 17)
    while not session.finished:
        session.advance(50)
    best = session.problem.minimum()
    assert best.shape == (3,)  # two features and the intercept
    assert torch.allclose(session.trainers["walker"].w.double(), best, atol=1e-3)

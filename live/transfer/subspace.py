"""The transfer objective on a local model, in k dimensions, and its Gauss-Newton steps.

Pure array math against the module of its inputs (NumPy, or CuPy on CUDA); no torch.

The local model of phi(w) = f_I(G(w)) around an anchor w_a along k latent directions U
(orthonormal columns of the flattened W+ space) is phi(w_a + U a) ~ phi0 + J a with
J = dphi/dw U. On it, for music f and source w_o,

    L(a) = 1 - cos(phi0 + J a, f) + lambda * sqrt(r^2 + ||b + a||^2)

where b = U^T (w_a - w_o) and r is the length of the part of the start's offset from
w_o that lies outside span(U) (a step along U never changes it). Every term reduces to
k-dimensional quantities precomputed once per anchor (J^T J, J^T phi0, |phi0|^2) or once
per keyframe (J^T f, phi0 . f), so evaluating L costs O(k^2), not a pass through G and E_I.

The update is Gauss-Newton with a backtracking line search. 1 - cos(g, f) is a
least-squares problem, half the squared distance between the unit vectors g/|g| and
f/|f|, so its Gauss-Newton matrix J^T (I - g g^T / |g|^2) J / |g|^2 is positive
semi-definite and exact where the fit is good; the norm term's Hessian is exact and
positive semi-definite too (the norm is convex). Their sum gives steps of the right length
in every direction at once, which is what a budget of one to three steps per keyframe
needs: Adam, the reference's optimizer, moves every coordinate by about its learning
rate per step whatever the curvature, and needs hundreds of steps. The k x k solve costs
microseconds. The norm's curvature lambda / rho grows without bound at the source
itself (rho = 0), where it would freeze the first step; it is evaluated at rho no smaller
than the trust radius, and the line search, on the true local loss, keeps every accepted
step a decrease. Steps stay within a ball of the trust radius (the distance over which
the model was measured to hold): the refinement centers it on the model's anchor, so no
keyframe, nor a run of keyframes on one model, extrapolates the model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from live.transfer.arrays import array_module

Array = Any  # numpy.ndarray or cupy.ndarray
BACKTRACKS = 4  # halvings of a step before giving it up
RIDGE = 1e-9    # relative to the mean curvature: keeps the solve regular when J is rank-deficient


@dataclass(frozen=True)
class LocalModel:
    """phi(anchor + basis @ a) ~ phi0 + jac @ a, with the k x k products a step needs."""

    anchor: Array   # [n] w_a, flattened W+
    basis: Array    # [n, k] U, orthonormal columns
    phi0: Array     # [D] phi(w_a)
    jac: Array      # [D, k] J = dphi/dw U
    gram: Array     # [k, k] J^T J (float64)
    phi_jac: Array  # [k] J^T phi0 (float64)
    phi_sq: Array   # [] |phi0|^2 (float64)

    @classmethod
    def create(cls, anchor: Array, basis: Array, phi0: Array, jac: Array) -> LocalModel:
        n, k = basis.shape
        assert anchor.shape == (n,) and jac.shape == (phi0.shape[0], k), (anchor.shape, basis.shape, jac.shape)
        xp = array_module(jac)
        j64, p64 = jac.astype(xp.float64), phi0.astype(xp.float64)
        return cls(anchor, basis, phi0, jac, j64.T @ j64, j64.T @ p64, p64 @ p64)

    def through(self, points: Array, phis: Array) -> LocalModel:
        """This model corrected to give phi as measured at `points` [t, k] (coordinates from the
        anchor), `phis` [t, D]: J' = J + (Phi - phi0 - J A) A^+ with A = points^T, the least
        change to J that does (Broyden's multi-secant update). Along directions the points do
        not span, J is kept."""
        xp = array_module(self.jac)
        t, k = points.shape
        assert k == self.jac.shape[1] and phis.shape == (t, len(self.phi0)), (points.shape, phis.shape, self.jac.shape)
        a = points.T.astype(xp.float64)
        missed = phis.T.astype(xp.float64) - self.phi0.astype(xp.float64)[:, None] - self.jac.astype(xp.float64) @ a
        jac = self.jac + (missed @ xp.linalg.pinv(a)).astype(self.jac.dtype)
        return LocalModel.create(self.anchor, self.basis, self.phi0, jac)


@dataclass(frozen=True)
class SubspaceProblem:
    """L(a) above for one keyframe: every array k-dimensional or a scalar, float64."""

    gram: Array       # [k, k] J^T J
    phi_jac: Array    # [k] J^T phi0
    phi_sq: Array     # [] |phi0|^2
    music_jac: Array  # [k] J^T f / |f|
    phi_music: Array  # [] phi0 . f / |f|
    offset: Array     # [k] b = U^T (w_a - w_o)
    outside_sq: Array  # [] r^2
    lam: float

    @property
    def xp(self):
        return array_module(self.gram)

    def _image(self, a: Array) -> tuple[Array, Array, Array]:
        """|g|, cos(g, f) and J^T g for g = phi0 + J a."""
        jtg = self.phi_jac + self.gram @ a
        norm = self.xp.sqrt(self.phi_sq + self.phi_jac @ a + a @ jtg)
        return norm, (self.phi_music + self.music_jac @ a) / norm, jtg

    def _distance(self, a: Array) -> tuple[Array, Array]:
        c = self.offset + a
        return c, self.xp.sqrt(self.outside_sq + c @ c)

    def loss(self, a: Array) -> Array:
        _, cos, _ = self._image(a)
        return 1 - cos + self.lam * self._distance(a)[1]

    def gradient(self, a: Array) -> Array:
        norm, cos, jtg = self._image(a)
        c, rho = self._distance(a)
        grad = -(self.music_jac - cos * jtg / norm) / norm
        # The norm's subgradient at the source itself is 0, as torch takes it.
        return grad + self.lam * c / self.xp.maximum(rho, 1e-30) * (rho > 0)

    def curvature(self, a: Array, rho_floor: float) -> Array:
        """The Gauss-Newton matrix of 1 - cos plus the norm term's Hessian, at rho >= rho_floor."""
        xp = self.xp
        norm, _, jtg = self._image(a)
        u = jtg / norm
        semantic = (self.gram - xp.outer(u, u)) / norm ** 2
        c, rho = self._distance(a)
        rho = xp.maximum(rho, rho_floor)
        origin = self.lam / rho * (xp.eye(len(a)) - xp.outer(c, c) / rho ** 2)
        total = semantic + origin
        return total + RIDGE * xp.trace(total) / len(a) * xp.eye(len(a))


def subspace_problem(model: LocalModel, w_start: Array, w_source: Array, f_music: Array,
                     lam: float) -> tuple[SubspaceProblem, Array]:
    """The problem of refining from w_start [n] toward f_music [D], and the start's a [k].

    The start need not lie on the anchor's subspace (the predictor's output does not):
    steps move it along U, its part outside span(U) stays and counts in L_O exactly,
    and phi is modelled as phi0 + J a with a its coordinates (the part of phi's change
    that the outside part would add is what the next anchor picks up).
    """
    xp = array_module(model.basis)
    f64 = xp.float64
    d = xp.stack([w_start - model.anchor, w_start - w_source], axis=1)  # [n, 2]
    coords = (model.basis.T @ d).astype(f64)                            # [k, 2]
    a0, b_start = coords[:, 0], coords[:, 1]
    away = (w_start - w_source).astype(f64)
    outside_sq = xp.maximum(away @ away - b_start @ b_start, 0.0)
    f = f_music.astype(f64)
    f = f / xp.linalg.norm(f)
    music_jac = model.jac.astype(f64).T @ f
    problem = SubspaceProblem(model.gram, model.phi_jac, model.phi_sq, music_jac, model.phi0.astype(f64) @ f,
                              b_start - a0, outside_sq, float(lam))
    return problem, a0


def gauss_newton_point(problem: SubspaceProblem, a: Array, rho_floor: float) -> Array:
    """The minimum of L's Gauss-Newton model at a, the norm's curvature taken at rho >= rho_floor."""
    return a - problem.xp.linalg.solve(problem.curvature(a, rho_floor), problem.gradient(a))


def gauss_newton_step(problem: SubspaceProblem, a: Array, center: Array, radius: float) -> Array:
    """One step from a inside the ball of `radius` around `center`: the Gauss-Newton
    point, projected into the ball, then halved toward a until the loss decreases; a
    itself when no tried step decreases it."""
    xp = problem.xp
    target = gauss_newton_point(problem, a, radius)
    offset = target - center
    target = center + offset * xp.minimum(1.0, radius / xp.maximum(xp.linalg.norm(offset), 1e-30))
    step, current = target - a, problem.loss(a)
    for _ in range(BACKTRACKS):
        candidate = a + step
        if bool(problem.loss(candidate) < current):
            return candidate
        step = step / 2
    return a


def minimize(problem: SubspaceProblem, a: Array, steps: int, radius: float, center: Array | None = None) -> Array:
    """`steps` Gauss-Newton steps from a, never farther than `radius` from `center` (a itself
    when not given): however many steps, they stay where the model was measured to hold."""
    center = a if center is None else center
    for _ in range(steps):
        a = gauss_newton_step(problem, a, center, radius)
    return a

"""L-BFGS in the coordinates where a given Hessian is the identity: the linear heads' solver."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from scipy.linalg import cholesky, solve_triangular
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning


def minimize_preconditioned(
    fun: Callable[[np.ndarray], tuple[float, np.ndarray]],
    hessian0: np.ndarray,
    *,
    tol: float,
    max_iter: int,
    owner: str,
) -> tuple[np.ndarray, int]:
    """Minimise ``fun(theta) -> (loss, gradient)`` by L-BFGS from ``theta = 0``.

    L-BFGS runs on ``v = C' theta``, where ``hessian0 = C C'`` (Cholesky), so that the
    problem looks isotropic when ``hessian0`` approximates the Hessian; it stops when the
    largest entry of the gradient in those coordinates falls below ``tol``. Warns
    (``ConvergenceWarning``, naming ``owner``) after ``max_iter`` iterations.

    Returns
    -------
    theta : ndarray of shape (k,)
    n_iter : int

    Example
    -------
    >>> import numpy as np
    >>> H = np.array([[4.0, 1.0], [1.0, 2.0]])
    >>> theta, _ = minimize_preconditioned(
    ...     lambda t: (0.5 * t @ H @ t - t.sum(), H @ t - 1.0), H, tol=1e-10, max_iter=50, owner="demo"
    ... )
    >>> np.allclose(theta, np.linalg.solve(H, np.ones(2)))
    True
    """
    k = hessian0.shape[0]
    chol = cholesky(hessian0 + 1e-12 * np.eye(k), lower=True)

    def objective(v: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grad = fun(solve_triangular(chol, v, lower=True, trans="T"))
        return loss, solve_triangular(chol, grad, lower=True)

    result = minimize(
        objective,
        np.zeros(k),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": tol, "ftol": 0.0},
    )
    if not result.success and result.nit >= max_iter:
        warnings.warn(
            f"{owner} did not converge in {max_iter} L-BFGS iterations; increase max_iter or alpha.",
            ConvergenceWarning,
            stacklevel=4,
        )
    return solve_triangular(chol, result.x, lower=True, trans="T"), int(result.nit)

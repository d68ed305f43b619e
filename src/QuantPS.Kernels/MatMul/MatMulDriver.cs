namespace QuantPS.Kernels.MatMul;

/// <summary>
/// Matrix multiplication over quantized weights, as ggml's CPU mul_mat: the weights W are <c>n</c> rows of
/// <c>k</c> values in any type with kernels; the activations X are <c>m</c> rows of <c>k</c> floats; the output Y is
/// <c>m</c> rows of <c>n</c> floats with Y[i, j] = dot(W row j, X row i). Each activation row is quantized once to the
/// weight type's activation type (ggml's vec_dot_type), so the arithmetic is llama.cpp's; output rows are shared out
/// over the workspace's threads, and every element is computed the same way whatever the thread count.
/// </summary>
public static unsafe class MatMulDriver
{
    /// <summary>True when <paramref name="weightType"/> has the kernels a multiplication needs.</summary>
    public static bool IsSupported(GgmlType weightType) => MatMulKernels.TryGet(weightType, out _, out _);

    /// <summary>Y (m x n) = X (m x k) times W (n rows of k) transposed; see <see cref="MatMulDriver"/>.</summary>
    /// <param name="weightType">The type W is stored in.</param>
    /// <param name="weights">W: <paramref name="n"/> contiguous rows of <paramref name="k"/> values (e.g. a view into a mapped GGUF).</param>
    /// <param name="k">Values per row of W and of X; a whole number of blocks of the weight and activation types.</param>
    /// <param name="n">Rows of W, which is the length of each output row.</param>
    /// <param name="x">X: <paramref name="m"/> contiguous rows of <paramref name="k"/> floats.</param>
    /// <param name="m">Rows of X (tokens in the batch).</param>
    /// <param name="y">Y: room for <paramref name="m"/> rows of <paramref name="n"/> floats.</param>
    /// <param name="workspace">Threads and scratch, reused across calls.</param>
    /// <exception cref="NotSupportedException">The weight type has no kernels yet.</exception>
    /// <exception cref="ArgumentException">A size is out of range or the row length is not a whole number of blocks.</exception>
    public static void Multiply(GgmlType weightType, byte* weights, long k, long n, float* x, long m, float* y, MatMulWorkspace workspace)
    {
        ArgumentNullException.ThrowIfNull(workspace);
        var kernels = Resolve(weightType);
        ValidateRowLength(kernels, k);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        if (n == 0 || m == 0)
        {
            return;
        }

        if (weights == null || x == null || y == null)
        {
            throw new ArgumentNullException(weights == null ? nameof(weights) : x == null ? nameof(x) : nameof(y));
        }

        _ = checked(m * n * sizeof(float)); // the output must be addressable
        _ = checked(kernels.Weight.RowSizeBytes(k) * n);
        workspace.Runner.Run(kernels, weights, k, n, x, m, y);
    }

    /// <summary>
    /// Several matrix-vector products as one job (ggml's mul_mat_id for one token): row s of <paramref name="y"/>
    /// (count rows of <paramref name="n"/>) = W_s times input row s of <paramref name="x"/>, where W_s is the
    /// <paramref name="n"/> x <paramref name="k"/> matrix at <paramref name="weights"/>[s], all of
    /// <paramref name="weightType"/>. With <paramref name="inputRows"/> 1 every matrix reads the same row (quantized
    /// once); else there is one input row per matrix. Each row of y equals <see cref="Multiply"/>'s with m = 1, bit for bit.
    /// </summary>
    /// <exception cref="NotSupportedException">The weight type has no kernels yet.</exception>
    /// <exception cref="ArgumentException">No matrices, a null one, a size out of range, or input rows neither 1 nor one per matrix.</exception>
    public static void MultiplyVectors(GgmlType weightType, ReadOnlySpan<nint> weights, long k, long n, float* x, int inputRows, float* y, MatMulWorkspace workspace)
    {
        if (y == null)
        {
            throw new ArgumentNullException(nameof(y));
        }

        var count = weights.Length;
        Span<long> rows = count <= 64 ? stackalloc long[count] : new long[count];
        Span<nint> outputs = count <= 64 ? stackalloc nint[count] : new nint[count];
        for (var s = 0; s < count; s++)
        {
            rows[s] = n;
            outputs[s] = (nint)(y + (s * n));
        }

        MultiplyVectors(weightType, weights, rows, outputs, k, x, inputRows, workspace);
    }

    /// <summary>
    /// As the overload above with matrices of their own row counts and outputs: <paramref name="rows"/>[s] values at
    /// <paramref name="outputs"/>[s] = W_s (that many rows of <paramref name="k"/> at <paramref name="weights"/>[s])
    /// times input row s of <paramref name="x"/>, or row 0 for all when <paramref name="inputRows"/> is 1 (a token's
    /// Q, K and V, say). Each output equals <see cref="Multiply"/>'s with m = 1, bit for bit.
    /// </summary>
    /// <exception cref="NotSupportedException">The weight type has no kernels yet.</exception>
    /// <exception cref="ArgumentException">No matrices, a null pointer, spans of different lengths, a row count out of range, or input rows neither 1 nor one per matrix.</exception>
    public static void MultiplyVectors(GgmlType weightType, ReadOnlySpan<nint> weights, ReadOnlySpan<long> rows, ReadOnlySpan<nint> outputs, long k, float* x, int inputRows, MatMulWorkspace workspace)
    {
        ArgumentNullException.ThrowIfNull(workspace);
        var kernels = Resolve(weightType);
        ValidateRowLength(kernels, k);
        if (weights.IsEmpty || weights.Contains(0) || outputs.Contains(0))
        {
            throw new ArgumentException("Every matrix needs its weights and its output.", nameof(weights));
        }

        if (rows.Length != weights.Length || outputs.Length != weights.Length)
        {
            throw new ArgumentException($"{weights.Length} matrices need as many row counts and outputs (got {rows.Length} and {outputs.Length}).", nameof(rows));
        }

        if (inputRows != 1 && inputRows != weights.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(inputRows), inputRows, $"1 or one per matrix ({weights.Length}).");
        }

        if (x == null)
        {
            throw new ArgumentNullException(nameof(x));
        }

        long total = 0;
        foreach (var n in rows)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n, nameof(rows));
            _ = checked(kernels.Weight.RowSizeBytes(k) * n);
            total = checked(total + n);
        }

        workspace.Runner.RunGrouped(kernels, weights, rows, outputs, k, x, inputRows);
    }

    /// <summary>y (n) = W (n rows of k) times x (k): one token, <see cref="Multiply"/> with m = 1.</summary>
    public static void MultiplyVector(GgmlType weightType, byte* weights, long k, long n, float* x, float* y, MatMulWorkspace workspace) =>
        Multiply(weightType, weights, k, n, x, 1, y, workspace);

    internal static MatMulKernels Resolve(GgmlType weightType) =>
        MatMulKernels.TryGet(weightType, out var kernels, out var reason) ? kernels : throw new NotSupportedException(reason);

    internal static void ValidateRowLength(MatMulKernels kernels, long k)
    {
        if (k <= 0 || k % kernels.RowMultiple != 0)
        {
            throw new ArgumentException(
                $"A {kernels.Weight.Name} matmul needs rows that are a positive whole number of {kernels.RowMultiple}-value blocks " +
                $"({kernels.Weight.Name} weights, {kernels.Activation.Name} activations); got k = {k}.",
                nameof(k));
        }
    }
}

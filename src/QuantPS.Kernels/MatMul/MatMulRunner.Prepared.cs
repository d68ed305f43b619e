namespace QuantPS.Kernels.MatMul;

/// <summary>
/// Matrix-vector products over weights with a DotPrepared (Q4_0, Q8_0): every weight row reads the same few activation
/// rows, so each is quantized as ggml does and then rearranged once for the dot (MatMulKernels.PrepareActivation).
/// </summary>
internal sealed unsafe partial class MatMulRunner
{
    // Matrix-vector products over weights with a DotPrepared: each activation row quantized, then rearranged once
    // (MatMulKernels.PrepareActivation) into rows of PreparedRowBytes, then one quantized row the rearranging reads.
    private bool _prepared;

    private static long PreparedRowBytes(MatMulKernels kernels, long k) => RoundUp(kernels.PreparedActivationBytes!(k), 64);

    private static long PreparedScratchBytes(MatMulKernels kernels, long k, long m) =>
        checked((m * PreparedRowBytes(kernels, k)) + kernels.Activation.RowSizeBytes(k));

    /// <summary>Grows the scratch so a prepared matrix-vector product of <paramref name="m"/> rows needs no allocation.</summary>
    internal void EnsurePreparedScratch(MatMulKernels kernels, long k, long m)
    {
        if (kernels.PreparedDot is not null)
        {
            EnsureScratch(PreparedScratchBytes(kernels, k, Math.Min(m, VectorMaxActs)));
        }
    }

    private void PreparePreparedRows(long first, long end)
    {
        var k = _k;
        var quantized = _scratch + (_m * _activationRowBytes);
        for (var row = first; row < end; row++)
        {
            _kernels.Quantize!(_x + (row * k), quantized, k);
            _kernels.PrepareActivation!(quantized, _activations + (row * _activationRowBytes), k);
        }
    }
}

namespace QuantPS.Kernels.MatMul;

/// <summary>
/// Reusable state for <see cref="MatMulDriver"/>: the worker threads and the scratch buffer that activations are
/// quantized into. Create one per inference session and reuse it for every multiplication, so calls allocate nothing.
/// One multiplication at a time: give each concurrently multiplying thread its own workspace.
/// </summary>
public sealed class MatMulWorkspace : IDisposable
{
    /// <summary>How long idle workers poll for the next multiplication before they sleep, unless told otherwise.</summary>
    public static readonly TimeSpan DefaultSpinBeforeSleep = TimeSpan.FromMilliseconds(1);

    private readonly MatMulRunner _runner;

    /// <param name="threadCount">Threads that share each multiplication, the caller's included; 0 = one per logical processor.
    /// With 1 the caller does all the work and no thread is started.</param>
    /// <param name="spinBeforeSleep">How long idle workers poll for the next call before sleeping
    /// (waking a sleeping thread costs tens of microseconds); null = <see cref="DefaultSpinBeforeSleep"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">A negative thread count or spin time.</exception>
    public MatMulWorkspace(int threadCount = 0, TimeSpan? spinBeforeSleep = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(threadCount);
        var spin = spinBeforeSleep ?? DefaultSpinBeforeSleep;
        if (spin < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(spinBeforeSleep), spin, "The spin time cannot be negative.");
        }

        _runner = new MatMulRunner(threadCount == 0 ? Environment.ProcessorCount : threadCount, spin);
    }

    /// <summary>Threads that share each multiplication, the caller's included.</summary>
    public int ThreadCount => _runner.ThreadCount;

    /// <summary>Bytes of activation scratch held now (it grows on demand and is kept).</summary>
    public long ScratchBytes => _runner.ScratchBytes;

    internal MatMulRunner Runner
    {
        get
        {
            ObjectDisposedException.ThrowIf(_runner.IsDisposed, this);
            return _runner;
        }
    }

    /// <summary>
    /// Allocates the scratch a multiplication of <paramref name="maxRows"/> activation rows of <paramref name="k"/>
    /// values against <paramref name="weightType"/> weights needs, so the first call on the hot path does not.
    /// </summary>
    public void Reserve(GgmlType weightType, long k, long maxRows)
    {
        var kernels = MatMulDriver.Resolve(weightType);
        MatMulDriver.ValidateRowLength(kernels, k);
        ArgumentOutOfRangeException.ThrowIfNegative(maxRows);
        if (kernels.Quantize is not null)
        {
            Runner.EnsureScratch(checked(kernels.Activation.RowSizeBytes(k) * maxRows));
        }

        Runner.EnsureFloatTileScratch(kernels, k, maxRows);
        Runner.EnsureIntegerPanelScratch(kernels, k, maxRows);
        Runner.EnsureScaledScratch(kernels, k, maxRows);
        Runner.EnsurePreparedScratch(kernels, k, maxRows);
    }

    /// <summary>
    /// Runs <paramref name="body"/> once for each chunk index 0 .. <paramref name="chunks"/> - 1, shared out over this
    /// workspace's threads (the caller's included), and returns when all are done; the first exception is rethrown.
    /// For work between multiplications (attention): the workers are already running, so this costs microseconds.
    /// Not while a multiplication runs on this workspace.
    /// </summary>
    public void ParallelFor(int chunks, Action<int> body)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(chunks);
        ArgumentNullException.ThrowIfNull(body);
        Runner.RunChunks(chunks, body);
    }

    /// <summary>Stops the worker threads and frees the scratch.</summary>
    public void Dispose()
    {
        _runner.Dispose();
        GC.SuppressFinalize(this);
    }

    // The workers reference the runner, not this object, so a forgotten workspace is still collected.
    // _runner is null when the constructor threw (bad arguments): the finalizer still runs then.
    ~MatMulWorkspace() => _runner?.Dispose();
}

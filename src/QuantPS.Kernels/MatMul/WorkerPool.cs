using System.Diagnostics;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace QuantPS.Kernels.MatMul;

/// <summary>
/// Persistent threads that run one body per job: the caller is worker 0, the pool's threads are 1..n-1.
/// Workers spin for a while after a job (matmuls come back to back during generation), then sleep on a monitor.
/// Run allocates nothing; it is not reentrant (one job at a time, enforced by the owner).
/// </summary>
internal sealed class WorkerPool : IDisposable
{
    private readonly Thread[] _threads;
    private readonly Action<int> _body;
    private readonly long _spinTicks;
    private readonly object _gate = new();
    private Counters _counters;
    private Exception? _failure;
    private volatile bool _disposed;

    // Hot counters on their own cache lines so waiting workers do not slow the one that publishes.
    [StructLayout(LayoutKind.Explicit, Size = 192)]
    private struct Counters
    {
        [FieldOffset(0)] public long Generation;
        [FieldOffset(64)] public int Pending;
        [FieldOffset(128)] public int Sleepers;
    }

    /// <param name="threadCount">Total threads including the caller; at least 1.</param>
    /// <param name="body">Run once per job on every thread with its index (0 = caller).</param>
    /// <param name="spinBeforeSleep">How long an idle worker polls for the next job before it sleeps.</param>
    public WorkerPool(int threadCount, Action<int> body, TimeSpan spinBeforeSleep)
    {
        _body = body;
        _spinTicks = (long)(spinBeforeSleep.TotalSeconds * Stopwatch.Frequency);
        _threads = new Thread[threadCount - 1];
        for (var i = 0; i < _threads.Length; i++)
        {
            _threads[i] = new Thread(WorkerLoop, maxStackSize: 256 * 1024)
            {
                IsBackground = true, // a forgotten Dispose must not keep the process alive
                Name = $"QuantPS matmul worker {i + 1}",
            };
            _threads[i].Start(i + 1);
        }
    }

    public int ThreadCount => _threads.Length + 1;

    /// <summary>Runs the body on every thread and returns when all have finished; rethrows the first failure.</summary>
    public void Run()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Volatile.Write(ref _counters.Pending, _threads.Length);
        // Full fence: publishes the job fields the owner wrote before this call, and orders the
        // generation write before the sleeper read (the worker does the mirror image).
        Interlocked.Increment(ref _counters.Generation);
        if (Volatile.Read(ref _counters.Sleepers) != 0)
        {
            lock (_gate)
            {
                Monitor.PulseAll(_gate);
            }
        }

        Exception? callerFailure = null;
        try
        {
            _body(0);
        }
        catch (Exception e)
        {
            callerFailure = e;
        }

        // Even on failure, wait: the workers read the owner's job fields until they are done.
        var spinner = default(PatientSpinner);
        while (Volatile.Read(ref _counters.Pending) != 0)
        {
            spinner.SpinOnce();
        }

        var failure = callerFailure ?? Interlocked.Exchange(ref _failure, null);
        if (failure is not null)
        {
            ExceptionDispatchInfo.Capture(failure).Throw();
        }
    }

    private void WorkerLoop(object? state)
    {
        var index = (int)state!;
        long seen = 0;
        while (true)
        {
            seen = WaitForJob(seen);
            if (_disposed)
            {
                return;
            }

            try
            {
                _body(index);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _failure, e, null);
            }

            Interlocked.Decrement(ref _counters.Pending);
        }
    }

    private long WaitForJob(long seen)
    {
        var start = Stopwatch.GetTimestamp();
        var polls = 0;
        while (true)
        {
            var generation = Volatile.Read(ref _counters.Generation);
            if (generation != seen || _disposed)
            {
                return generation;
            }

            // Read the clock only every few polls: it costs more than a pause.
            if ((++polls & 63) != 0 || Stopwatch.GetTimestamp() - start < _spinTicks)
            {
                Thread.SpinWait(8);
                continue;
            }

            lock (_gate)
            {
                Interlocked.Increment(ref _counters.Sleepers);
                while (Volatile.Read(ref _counters.Generation) == seen && !_disposed)
                {
                    Monitor.Wait(_gate);
                }

                Interlocked.Decrement(ref _counters.Sleepers);
            }

            start = Stopwatch.GetTimestamp();
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        lock (_gate)
        {
            Monitor.PulseAll(_gate);
        }

        foreach (var thread in _threads)
        {
            if (thread != Thread.CurrentThread)
            {
                thread.Join();
            }
        }
    }
}

using System.Runtime.ExceptionServices;
using QuantPS.Gguf;
using QuantPS.Kernels;

namespace QuantPS.Quantization.Job;

/// <summary>Progress of a running job: tensors and output bytes done so far.</summary>
public sealed record QuantizeProgress(int TensorsDone, int TensorCount, long BytesDone, long BytesTotal, string? CurrentTensor);

/// <summary>What a finished job wrote.</summary>
public sealed record QuantizeResult(string OutputPath, long SizeBytes, int TensorCount, int ConvertedCount, int FallbackCount, TimeSpan Elapsed)
{
    /// <summary>Every file written (one, or the shards of a -KeepSplit output), in shard order.</summary>
    public IReadOnlyList<string> OutputPaths { get; init; } = [OutputPath];
}

/// <summary>
/// Runs a <see cref="QuantizePlan"/>: streams each tensor (copied or converted, rows in parallel)
/// into GGUF files written atomically. Every output is re-read and checked before any is moved into
/// place; a failure or a cancellation leaves neither an output nor a temporary file.
/// </summary>
public static class QuantizeJob
{
    // Rows are converted in slices of about this many values, so memory stays bounded for any model.
    private const int SliceValues = 1 << 22;

    /// <remarks>With -KeepSplit the shard names derive from <paramref name="outputPath"/> (<see cref="QuantizePlan.OutputPathsFor"/>).</remarks>
    /// <exception cref="QuantizationException">The plan cannot run (see <see cref="QuantizePlan.ThrowIfNotRunnable"/>), or an output is the input.</exception>
    /// <exception cref="GgufException">An output exists (without overwrite) or cannot be written.</exception>
    /// <exception cref="OperationCanceledException">Cancelled; nothing is left behind.</exception>
    public static QuantizeResult Run(GgufModel input, QuantizePlan plan, string outputPath, bool overwrite = false,
        Action<QuantizeProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        var started = System.Diagnostics.Stopwatch.StartNew();
        var targets = plan.OutputPathsFor(Path.GetFullPath(outputPath));
        foreach (var target in targets)
        {
            if (input.Shards.Any(s => SamePath(s.Location, target)))
            {
                throw new QuantizationException(QuantizeErrorIds.SameFile, $"input and output files are the same: '{target}'. Choose another output path.");
            }

            if (!overwrite && File.Exists(target))
            {
                throw new GgufException(GgufErrorKind.OutputExists, $"{target} already exists. Choose another name or allow overwriting (-Force).", target);
            }
        }

        plan.ThrowIfNotRunnable();
        cancellationToken.ThrowIfCancellationRequested();

        // Written under hidden names first, verified, then renamed: no target ever holds a partial file.
        var staging = targets.Select(t => Path.Combine(Path.GetDirectoryName(t)!, $".{Path.GetFileName(t)}.{Guid.NewGuid():N}.partial")).ToArray();
        try
        {
            long done = 0, total = plan.Tensors.Sum(t => t.SizeBytes);
            int tensorsDone = 0;
            for (int f = 0; f < plan.Outputs.Count; f++)
            {
                var output = plan.Outputs[f];
                var specs = output.Tensors.Select(t => new GgufTensorSpec(t.Name, t.Type, t.Shape)).ToArray();
                using var writer = GgufWriter.Create(staging[f], output.Metadata, specs);
                using var overlapped = new OverlappedTensorWriter(writer.WriteTensorData);
                foreach (var tensor in output.Tensors)
                {
                    int i = tensorsDone;
                    progress?.Invoke(new QuantizeProgress(i, plan.Tensors.Count, done, total, tensor.Name));
                    WriteTensor(input, plan, tensor, overlapped, writer, cancellationToken, n =>
                    {
                        done += n;
                        progress?.Invoke(new QuantizeProgress(i, plan.Tensors.Count, done, total, tensor.Name));
                    });
                    tensorsDone++;
                }

                overlapped.Flush();
                cancellationToken.ThrowIfCancellationRequested();
                writer.Commit();
            }

            progress?.Invoke(new QuantizeProgress(plan.Tensors.Count, plan.Tensors.Count, done, total, null));
            if (plan.Options.Verify)
            {
                for (int f = 0; f < plan.Outputs.Count; f++) Verify(plan.Outputs[f], staging[f]);
            }

            cancellationToken.ThrowIfCancellationRequested();
            MoveIntoPlace(staging, targets, overwrite);
        }
        finally
        {
            foreach (var path in staging) TryDelete(path);
        }

        return new QuantizeResult(targets[0], plan.PredictedSize, plan.Tensors.Count, plan.Tensors.Count(t => t.IsConverted), plan.FallbackCount, started.Elapsed)
        {
            OutputPaths = targets,
        };
    }

    // All or nothing: when one rename fails, the files already moved are removed again.
    private static void MoveIntoPlace(IReadOnlyList<string> staging, IReadOnlyList<string> targets, bool overwrite)
    {
        int moved = 0;
        try
        {
            for (; moved < targets.Count; moved++)
            {
                var target = targets[moved];
                try
                {
                    File.Move(staging[moved], target, overwrite);
                }
                catch (IOException e) when (!overwrite && File.Exists(target))
                {
                    throw new GgufException(GgufErrorKind.OutputExists, $"{target} already exists. Choose another name or allow overwriting (-Force).", target, inner: e);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new GgufException(GgufErrorKind.IoError, $"Cannot move the finished file into place at {target}: {e.Message}", target, inner: e);
                }
            }
        }
        catch
        {
            for (int i = 0; i < moved; i++) TryDelete(targets[i]);
            throw;
        }
    }

    private static unsafe void WriteTensor(GgufModel input, QuantizePlan plan, QuantizePlanTensor tensor,
        OverlappedTensorWriter overlapped, GgufWriter writer, CancellationToken ct, Action<long> wrote)
    {
        if (tensor.SizeBytes == 0)
        {
            return;
        }

        byte* source = input.GetTensorPointer(tensor.Source);
        if (!tensor.IsConverted)
        {
            // Straight from the mapping: the slices queued before it go first.
            overlapped.Flush();
            const int Piece = 1 << 24;
            for (long at = 0; at < tensor.SizeBytes; at += Piece)
            {
                ct.ThrowIfCancellationRequested();
                int n = (int)Math.Min(Piece, tensor.SizeBytes - at);
                writer.WriteTensorData(new ReadOnlySpan<byte>(source + at, n));
                input.ReleaseTensorPages(tensor.Source, at, n);
                wrote(n);
            }

            return;
        }

        int rowLength = checked((int)tensor.Shape[0]);
        long rows = tensor.Source.RowCount;
        long rowsPerMatrix = tensor.Shape.Count > 1 ? tensor.Shape[1] : 1;
        var inInfo = GgmlTypeTraits.Get(tensor.SourceType);
        long inRowBytes = inInfo.RowSizeBytes(rowLength);
        long outRowBytes = GgmlTypeTraits.Get(tensor.Type).RowSizeBytes(rowLength);
        float[]? importance = tensor.UsesImportance ? plan.Importance![tensor.SourceName] : null;
        int sliceRows = Math.Max(1, SliceValues / rowLength);
        // A task handles about 16K values at a time, like llama.cpp's chunking (the bytes do not depend on it).
        int taskRows = Math.Max(1, (32 * 512) / rowLength);
        int threads = plan.Options.Threads > 0 ? plan.Options.Threads : Environment.ProcessorCount;
        for (long first = 0; first < rows; first += sliceRows)
        {
            ct.ThrowIfCancellationRequested();
            int count = (int)Math.Min(sliceRows, rows - first);
            int tasks = (count + taskRows - 1) / taskRows;
            var options = new ParallelOptions { MaxDegreeOfParallelism = threads, CancellationToken = ct };
            long firstRow = first;
            int sliceBytes = (int)(count * outRowBytes);
            var output = overlapped.Rent(sliceBytes);
            try
            {
                Parallel.For(0, tasks, options, () => new float[(long)taskRows * rowLength], (task, _, values) =>
                {
                    int r0 = task * taskRows, n = Math.Min(taskRows, count - r0);
                    for (int r = 0; r < n; r++)
                    {
                        long row = firstRow + r0 + r;
                        var x = values.AsSpan(r * rowLength, rowLength);
                        Dequantize(tensor.SourceType, inInfo, source + row * inRowBytes, x);
                        var qw = importance is null ? ReadOnlySpan<float>.Empty
                            : importance.AsSpan((int)(row / rowsPerMatrix * rowLength), rowLength); // one vector per expert
                        TypeQuantizer.Quantize(tensor.Type, x, rowLength, output.AsSpan((int)((r0 + r) * outRowBytes), (int)outRowBytes), qw);
                    }

                    return values;
                }, _ => { });
            }
            catch (Exception e)
            {
                overlapped.Return(output);
                // A quantizer's own refusal (e.g. a lattice search that NaN input defeats) keeps its ErrorId.
                if (e is AggregateException { InnerException: QuantizationException q }) ExceptionDispatchInfo.Throw(q);
                throw;
            }

            // Written on the writer's thread while the next slice is computed.
            overlapped.Submit(output, sliceBytes);
            // Each input byte is read once: letting its pages go keeps memory bounded for models larger than RAM.
            input.ReleaseTensorPages(tensor.Source, first * inRowBytes, count * inRowBytes);
            wrote(sliceBytes);
        }
    }

    // F16/BF16 rows go through the generated conversion kernel (exact, special values included, tested
    // against ggml's tables at every width); quantized inputs through the scalar reference dequantizer.
    private static unsafe void Dequantize(GgmlType type, GgmlTypeInfo info, byte* row, Span<float> x)
    {
        fixed (float* y = x)
        {
            if (type == GgmlType.F32)
            {
                new ReadOnlySpan<float>(row, x.Length).CopyTo(x);
            }
            else if (type is GgmlType.F16 or GgmlType.BF16 && info.Dequantize is { } convert)
            {
                convert(row, y, x.Length);
            }
            else
            {
                info.DequantizeReference!(row, y, x.Length);
            }
        }
    }

    // A finished file must read back as planned: same header bytes, tensor table and length.
    private static void Verify(QuantizePlanOutput plan, string path)
    {
        var length = new FileInfo(path).Length;
        string? problem = length != plan.SizeBytes ? $"it has {length} bytes, not the planned {plan.SizeBytes}" : null;
        if (problem is null)
        {
            // Read as a single file even when it is one shard of a split.
            using var written = GgufFile.Open(path);
            var expected = plan.Layout.Tensors;
            if (written.Header.Tensors.Count != expected.Count || written.Header.Metadata.Count != plan.Metadata.Count)
            {
                problem = "its header does not hold the planned tensors and metadata";
            }
            else
            {
                for (int i = 0; i < expected.Count && problem is null; i++)
                {
                    var (a, b) = (written.Header.Tensors[i], expected[i]);
                    if (a.Name != b.Name || a.Type != b.Type || a.Offset != b.Offset || !a.Shape.SequenceEqual(b.Shape))
                    {
                        problem = $"tensor {i} reads back as {a}, planned {b}";
                    }
                }
            }

            if (problem is null)
            {
                using var stream = File.OpenRead(path);
                var header = new byte[plan.Layout.Header.Length];
                stream.ReadExactly(header);
                if (!header.AsSpan().SequenceEqual(plan.Layout.Header)) problem = "its header bytes differ from the plan";
            }
        }

        if (problem is not null)
        {
            throw new QuantizationException(QuantizeErrorIds.VerifyFailed, $"The written file {Path.GetFileName(path)} failed its check: {problem}. Nothing was written.");
        }
    }

    private static bool SamePath(string a, string b)
    {
        try
        {
            var comparison = OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
            return string.Equals(Path.GetFullPath(a), Path.GetFullPath(b), comparison);
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: the hidden .partial name marks it as ours.
        }
    }
}

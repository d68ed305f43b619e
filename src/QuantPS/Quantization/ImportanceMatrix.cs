using QuantPS.Gguf;

namespace QuantPS.Quantization;

/// <summary>Which llama-imatrix output an <see cref="ImportanceMatrix"/> was read from.</summary>
public enum ImportanceMatrixFormat
{
    /// <summary>GGUF with <c>name.in_sum2</c> and <c>name.counts</c> tensors (llama-imatrix's default).</summary>
    Gguf,

    /// <summary>The legacy .dat layout (<c>--output-format dat</c>).</summary>
    Legacy,
}

/// <summary>One tensor's raw statistics as stored, before normalization.</summary>
/// <param name="Sums">Sum of squared activations per column (GGUF), or value × ncall (legacy).</param>
/// <param name="Counts">Per-matrix token counts (GGUF, one per expert), or the single ncall (legacy).</param>
public sealed record ImportanceEntry(float[] Sums, long[] Counts);

/// <summary>
/// An importance matrix from llama-imatrix. <see cref="Values"/> holds, per weight tensor name,
/// the vector llama-quantize passes to the quantizers (GGUF: in_sum2 / count, 1 where a matrix has
/// no count; legacy: stored / ncall).
/// </summary>
public sealed class ImportanceMatrix
{
    internal ImportanceMatrix(string path, ImportanceMatrixFormat format, IReadOnlyDictionary<string, ImportanceEntry> raw,
        IReadOnlyList<string> datasets, int chunkCount, int chunkSize)
    {
        Path = path;
        Format = format;
        Raw = raw;
        Datasets = datasets;
        ChunkCount = chunkCount;
        ChunkSize = chunkSize;
        Values = raw.ToDictionary(kv => kv.Key, kv => Normalize(format, kv.Value), StringComparer.Ordinal);
        foreach (var (name, values) in Values)
        {
            for (int i = 0; i < values.Length; i++)
            {
                if (!float.IsFinite(values[i]))
                {
                    throw new QuantizationException(QuantizationErrorIds.ImatrixNonFinite,
                        $"The importance matrix '{path}' has a non-finite value ({values[i]}) for {name} at {i}; recompute it.");
                }
            }
        }
    }

    public string Path { get; }

    public ImportanceMatrixFormat Format { get; }

    /// <summary>Dataset file names recorded by llama-imatrix (imatrix.datasets, or the legacy trailer).</summary>
    public IReadOnlyList<string> Datasets { get; }

    /// <summary>Chunks the statistics were collected over (imatrix.chunk_count / legacy trailer).</summary>
    public int ChunkCount { get; }

    /// <summary>Tokens per chunk (imatrix.chunk_size); 0 for legacy files, which do not record it.</summary>
    public int ChunkSize { get; }

    /// <summary>The statistics as stored, by tensor name.</summary>
    public IReadOnlyDictionary<string, ImportanceEntry> Raw { get; }

    /// <summary>The importance vectors the quantizers take, by tensor name.</summary>
    public IReadOnlyDictionary<string, float[]> Values { get; }

    /// <summary>Reads either format: GGUF when the file starts with the GGUF magic, the legacy layout otherwise.</summary>
    /// <exception cref="QuantizationException">The file is unreadable or fails llama.cpp's checks (see its ErrorId).</exception>
    public static ImportanceMatrix Load(string path) =>
        ImportanceMatrixReader.HasGgufMagic(path) ? ImportanceMatrixReader.ReadGguf(path) : ImportanceMatrixReader.ReadLegacy(path);

    /// <summary>
    /// The importance vector for a weight of shape [ne0, ne1, ne2...], or null when the file has none
    /// for it. llama-quantize requires ne0 × ne2 values (one row per expert) and refuses any other size,
    /// except for the token embeddings, which it then quantizes without an imatrix.
    /// </summary>
    /// <exception cref="QuantizationException">The sizes disagree (ImatrixSizeMismatch).</exception>
    public float[]? ForTensor(string name, IReadOnlyList<long> shape)
    {
        if (!Values.TryGetValue(name, out var values))
        {
            return null;
        }

        long expected = (shape.Count > 0 ? shape[0] : 1) * (shape.Count > 2 ? shape[2] : 1);
        if (values.Length != expected)
        {
            if (name is "token_embd.weight" or "per_layer_token_embd.weight")
            {
                return null;
            }

            throw new QuantizationException(QuantizationErrorIds.ImatrixSizeMismatch,
                $"The importance matrix has {values.Length} values for {name}, but the tensor needs {expected}; it was computed for a different model.");
        }

        return values;
    }

    /// <inheritdoc cref="ForTensor(string, IReadOnlyList{long})"/>
    public float[]? ForTensor(GgufTensorInfo tensor) => ForTensor(tensor.Name, tensor.Shape);

    // Mirrors llama-quantize's load_imatrix (float division, count converted to float).
    private static float[] Normalize(ImportanceMatrixFormat format, ImportanceEntry entry)
    {
        var sums = entry.Sums;
        var result = new float[sums.Length];
        if (format == ImportanceMatrixFormat.Gguf)
        {
            int perMatrix = sums.Length / entry.Counts.Length;
            for (int j = 0; j < entry.Counts.Length; j++)
            {
                float count = entry.Counts[j];
                for (int i = 0; i < perMatrix; i++)
                {
                    result[j * perMatrix + i] = count > 0.0f ? sums[j * perMatrix + i] / count : 1f;
                }
            }
        }
        else
        {
            long ncall = entry.Counts.Length == 0 ? 0 : entry.Counts[0];
            for (int i = 0; i < sums.Length; i++)
            {
                result[i] = ncall > 0 ? sums[i] / ncall : sums[i];
            }
        }

        return result;
    }
}

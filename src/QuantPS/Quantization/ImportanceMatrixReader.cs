using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using QuantPS.Gguf;
using QuantPS.Kernels;

namespace QuantPS.Quantization;

/// <summary>The two llama-imatrix file formats, with the checks llama.cpp's loader makes.</summary>
internal static class ImportanceMatrixReader
{
    private const string SumsSuffix = ".in_sum2";
    private const string CountsSuffix = ".counts";

    public static bool HasGgufMagic(string path)
    {
        Span<byte> magic = stackalloc byte[4];
        try
        {
            using var stream = File.OpenRead(path);
            return stream.Read(magic) == 4 && magic.SequenceEqual("GGUF"u8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Unreadable(path, e);
        }
    }

    public static ImportanceMatrix ReadGguf(string path)
    {
        GgufModel model;
        try
        {
            model = GgufModel.Open(path);
        }
        catch (GgufException e)
        {
            throw new QuantizationException(QuantizationErrorIds.ImatrixUnreadable,
                $"'{path}' is not a readable GGUF importance matrix ({e.ErrorId}): {e.Message}", e);
        }

        using (model)
        {
            if (model.Tensors.Count < 1)
            {
                throw new QuantizationException(QuantizationErrorIds.ImatrixNoData, $"The importance matrix '{path}' holds no tensors.");
            }

            var meta = model.Metadata;
            // llama-quantize refuses a GGUF imatrix without all three keys.
            foreach (var key in new[] { "imatrix.datasets", "imatrix.chunk_count", "imatrix.chunk_size" })
            {
                if (!meta.ContainsKey(key))
                {
                    throw new QuantizationException(QuantizationErrorIds.ImatrixMetadataMissing,
                        $"The importance matrix '{path}' lacks the {key} key; it was not written by llama-imatrix.");
                }
            }

            var datasets = meta.GetArray("imatrix.datasets") is { ElementType: GgufValueType.String } array
                ? array.Select(v => (string)v!).ToList()
                : new List<string>();
            int chunkCount = (int)(meta.GetInteger("imatrix.chunk_count") ?? 0);
            int chunkSize = (int)(meta.GetInteger("imatrix.chunk_size") ?? 0);

            var pairs = new SortedDictionary<string, (GgufTensorInfo? Sums, GgufTensorInfo? Counts)>(StringComparer.Ordinal);
            foreach (var tensor in model.Tensors)
            {
                if (tensor.Name.EndsWith(SumsSuffix, StringComparison.Ordinal) && tensor.Name.Length > SumsSuffix.Length)
                {
                    var name = tensor.Name[..^SumsSuffix.Length];
                    pairs[name] = (tensor, pairs.GetValueOrDefault(name).Counts);
                }
                else if (tensor.Name.EndsWith(CountsSuffix, StringComparison.Ordinal) && tensor.Name.Length > CountsSuffix.Length)
                {
                    var name = tensor.Name[..^CountsSuffix.Length];
                    pairs[name] = (pairs.GetValueOrDefault(name).Sums, tensor);
                }
            }

            var entries = new Dictionary<string, ImportanceEntry>(StringComparer.Ordinal);
            foreach (var (name, (sums, counts)) in pairs)
            {
                if (sums is null || counts is null)
                {
                    throw new QuantizationException(QuantizationErrorIds.ImatrixCountsMissing,
                        $"The importance matrix '{path}' has {(sums is null ? "counts but no in_sum2" : "in_sum2 but no counts")} for {name}.");
                }

                if (sums.Type != GgmlType.F32 || counts.Type != GgmlType.F32)
                {
                    throw new QuantizationException(QuantizationErrorIds.ImatrixMalformed,
                        $"The importance matrix '{path}' stores {name} as {sums.Type}/{counts.Type}; in_sum2 and counts must be F32.");
                }

                // ggml reads ne0 = sums / counts per matrix; a remainder would misalign the experts.
                if (counts.ElementCount < 1 || sums.ElementCount % counts.ElementCount != 0)
                {
                    throw new QuantizationException(QuantizationErrorIds.ImatrixSizeMismatch,
                        $"The importance matrix '{path}' has {sums.ElementCount} sums for {counts.ElementCount} counts in {name}; they must divide evenly.");
                }

                var sumValues = MemoryMarshal.Cast<byte, float>(model.GetTensorData(sums)).ToArray();
                var countValues = MemoryMarshal.Cast<byte, float>(model.GetTensorData(counts)).ToArray()
                    .Select(c => (long)MathF.Round(c, MidpointRounding.AwayFromZero)) // lround
                    .ToArray();
                entries[name] = new ImportanceEntry(sumValues, countValues);
            }

            if (entries.Count == 0)
            {
                throw new QuantizationException(QuantizationErrorIds.ImatrixNoData,
                    $"The importance matrix '{path}' has no <name>.in_sum2 / <name>.counts tensor pairs.");
            }

            return new ImportanceMatrix(path, ImportanceMatrixFormat.Gguf, entries, datasets, chunkCount, chunkSize);
        }
    }

    // Legacy layout, little-endian: int32 n_entries; per entry int32 name length, name bytes, int32 ncall,
    // int32 nval, nval float32; then optionally int32 chunk count, int32 dataset length, dataset bytes.
    public static ImportanceMatrix ReadLegacy(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Unreadable(path, e);
        }

        var reader = new LegacyCursor(bytes, path);
        if (!reader.TryInt32(out int count) || count < 1)
        {
            throw new QuantizationException(QuantizationErrorIds.ImatrixNoData,
                $"'{path}' holds no importance matrix entries (neither GGUF nor a legacy .dat file).");
        }

        var entries = new Dictionary<string, ImportanceEntry>(StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            int nameLength = reader.Int32($"the name length of entry {i + 1}");
            if (nameLength < 0 || nameLength > reader.Remaining)
            {
                throw reader.Malformed($"entry {i + 1} declares a name of {nameLength} bytes");
            }

            // ggml reads the name as a C string: it ends at the first NUL.
            var nameBytes = reader.Bytes(nameLength, $"the name of entry {i + 1}");
            int nul = nameBytes.IndexOf((byte)0);
            string name = Encoding.UTF8.GetString(nul >= 0 ? nameBytes[..nul] : nameBytes);
            int ncall = reader.Int32($"ncall of {name}");
            int nval = reader.Int32($"the value count of {name}");
            if (nval < 1 || (long)nval * 4 > reader.Remaining)
            {
                throw reader.Malformed($"{name} declares {nval} values but {reader.Remaining} bytes remain");
            }

            var values = MemoryMarshal.Cast<byte, float>(reader.Bytes(nval * 4, $"the values of {name}")).ToArray();
            entries[name] = new ImportanceEntry(values, new long[] { ncall });
        }

        var datasets = new List<string>();
        int chunkCount = 0;
        if (reader.TryInt32(out int chunks))
        {
            chunkCount = chunks;
            if (reader.TryInt32(out int length) && length > 0 && length <= reader.Remaining)
            {
                var dataset = reader.Bytes(length, "the dataset name");
                int nul = dataset.IndexOf((byte)0);
                datasets.Add(Encoding.UTF8.GetString(nul >= 0 ? dataset[..nul] : dataset));
            }
        }

        return new ImportanceMatrix(path, ImportanceMatrixFormat.Legacy, entries, datasets, chunkCount, 0);
    }

    private static QuantizationException Unreadable(string path, Exception e) =>
        new(QuantizationErrorIds.ImatrixUnreadable, $"Cannot read the importance matrix '{path}': {e.Message}", e);

    private ref struct LegacyCursor
    {
        private readonly ReadOnlySpan<byte> _bytes;
        private readonly string _path;
        private int _at;

        public LegacyCursor(ReadOnlySpan<byte> bytes, string path)
        {
            _bytes = bytes;
            _path = path;
            _at = 0;
        }

        public readonly int Remaining => _bytes.Length - _at;

        public bool TryInt32(out int value)
        {
            value = 0;
            if (Remaining < 4)
            {
                return false;
            }

            value = BinaryPrimitives.ReadInt32LittleEndian(_bytes[_at..]);
            _at += 4;
            return true;
        }

        public int Int32(string what) => TryInt32(out int value) ? value : throw Malformed($"the file ends before {what}");

        public ReadOnlySpan<byte> Bytes(int count, string what)
        {
            if (count > Remaining)
            {
                throw Malformed($"the file ends inside {what}");
            }

            var slice = _bytes.Slice(_at, count);
            _at += count;
            return slice;
        }

        public readonly QuantizationException Malformed(string detail) =>
            new(QuantizationErrorIds.ImatrixMalformed, $"The legacy importance matrix '{_path}' is malformed: {detail}.");
    }
}

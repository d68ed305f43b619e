using System.Runtime.InteropServices;
using QuantPS.Gguf;
using QuantPS.Kernels;
using QuantPS.Quantization;
using Xunit;

namespace QuantPS.Tests.Quantization;

/// <summary>Files llama.cpp's imatrix loader (or llama-quantize) refuses are refused here, each with its id.</summary>
public sealed class ImportanceMatrixMalformedTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("quantps-imatrix-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void MissingFileIsUnreadable() =>
        AssertRefused(Path.Combine(_folder, "absent.gguf"), QuantizationErrorIds.ImatrixUnreadable);

    [Fact]
    public void EmptyFileHasNoData() => AssertRefused(Legacy(Array.Empty<byte>()), QuantizationErrorIds.ImatrixNoData);

    [Fact]
    public void LegacyWithZeroEntriesHasNoData() => AssertRefused(Legacy(Int(0)), QuantizationErrorIds.ImatrixNoData);

    [Fact]
    public void LegacyTruncatedNameIsMalformed() =>
        AssertRefused(Legacy(Int(1), Int(20), "blk.0"u8.ToArray()), QuantizationErrorIds.ImatrixMalformed);

    [Fact]
    public void LegacyWithoutValuesIsMalformed() =>
        AssertRefused(Legacy(Int(1), Int(1), "a"u8.ToArray(), Int(1), Int(0)), QuantizationErrorIds.ImatrixMalformed);

    [Fact]
    public void LegacyTruncatedValuesAreMalformed() =>
        AssertRefused(Legacy(Int(1), Int(1), "a"u8.ToArray(), Int(1), Int(4), Floats(1, 2)), QuantizationErrorIds.ImatrixMalformed);

    [Fact]
    public void LegacyNonFiniteValueIsRefused() =>
        AssertRefused(Legacy(Int(1), Int(1), "a"u8.ToArray(), Int(1), Int(2), Floats(1, float.NaN)), QuantizationErrorIds.ImatrixNonFinite);

    [Fact]
    public void LegacyWithoutTrailerLoads()
    {
        var imatrix = ImportanceMatrix.Load(Legacy(Int(1), Int(1), "a"u8.ToArray(), Int(4), Int(2), Floats(2, 6)));
        Assert.Equal(new[] { 0.5f, 1.5f }, imatrix.Values["a"]);
        Assert.Equal(0, imatrix.ChunkCount);
        Assert.Empty(imatrix.Datasets);
    }

    [Fact]
    public void GgufLoadsAndNormalizesPerExpert()
    {
        // Two experts of 2 columns: the second has no count, so llama-quantize uses 1 for it.
        var imatrix = ImportanceMatrix.Load(Gguf(Metadata(), ("w.in_sum2", GgmlType.F32, new long[] { 2, 2 }, Floats(8, 4, 5, 5)),
            ("w.counts", GgmlType.F32, new long[] { 1, 2 }, Floats(4, 0))));
        Assert.Equal(new[] { 2f, 1f, 1f, 1f }, imatrix.Values["w"]);
        Assert.Equal(4, imatrix.ForTensor("w", new long[] { 2, 7, 2 })!.Length); // ne0 × ne2
    }

    [Fact]
    public void GgufWithoutMetadataIsRefused() =>
        AssertRefused(Gguf(Metadata().Where(m => m.Key != "imatrix.chunk_size").ToArray(),
            ("w.in_sum2", GgmlType.F32, new long[] { 2 }, Floats(1, 1)), ("w.counts", GgmlType.F32, new long[] { 1 }, Floats(1))),
            QuantizationErrorIds.ImatrixMetadataMissing);

    [Fact]
    public void GgufSumsWithoutCountsAreRefused() =>
        AssertRefused(Gguf(Metadata(), ("w.in_sum2", GgmlType.F32, new long[] { 2 }, Floats(1, 1))), QuantizationErrorIds.ImatrixCountsMissing);

    [Fact]
    public void GgufCountsWithoutSumsAreRefused() =>
        AssertRefused(Gguf(Metadata(), ("w.counts", GgmlType.F32, new long[] { 1 }, Floats(1))), QuantizationErrorIds.ImatrixCountsMissing);

    [Fact]
    public void GgufNonF32IsRefused() =>
        AssertRefused(Gguf(Metadata(), ("w.in_sum2", GgmlType.F16, new long[] { 2 }, new byte[4]), ("w.counts", GgmlType.F32, new long[] { 1 }, Floats(1))),
            QuantizationErrorIds.ImatrixMalformed);

    [Fact]
    public void GgufUnevenExpertsAreRefused() =>
        AssertRefused(Gguf(Metadata(), ("w.in_sum2", GgmlType.F32, new long[] { 3 }, Floats(1, 1, 1)), ("w.counts", GgmlType.F32, new long[] { 2 }, Floats(1, 1))),
            QuantizationErrorIds.ImatrixSizeMismatch);

    [Fact]
    public void GgufWithoutTensorsHasNoData() => AssertRefused(Gguf(Metadata()), QuantizationErrorIds.ImatrixNoData);

    [Fact]
    public void GgufWithOnlyOtherTensorsHasNoData() =>
        AssertRefused(Gguf(Metadata(), ("w.weight", GgmlType.F32, new long[] { 1 }, Floats(1))), QuantizationErrorIds.ImatrixNoData);

    [Fact]
    public void CorruptGgufIsUnreadable()
    {
        var path = Path.Combine(_folder, "corrupt.gguf");
        File.WriteAllBytes(path, [.. "GGUF"u8.ToArray(), .. Int(3), .. Int(-1)]);
        AssertRefused(path, QuantizationErrorIds.ImatrixUnreadable);
    }

    private static void AssertRefused(string path, string errorId)
    {
        var error = Assert.Throws<QuantizationException>(() => ImportanceMatrix.Load(path));
        Assert.Equal(errorId, error.ErrorId);
    }

    private static GgufMetadataEntry[] Metadata() =>
    [
        GgufMetadataEntry.Of("general.type", "imatrix"),
        GgufMetadataEntry.Of("imatrix.datasets", new GgufArray(GgufValueType.String, new[] { "calibration.txt" })),
        GgufMetadataEntry.Of("imatrix.chunk_count", 1u),
        GgufMetadataEntry.Of("imatrix.chunk_size", 512u),
    ];

    private string Gguf(GgufMetadataEntry[] metadata, params (string Name, GgmlType Type, long[] Shape, byte[] Data)[] tensors)
    {
        var path = Path.Combine(_folder, Guid.NewGuid().ToString("N") + ".gguf");
        GgufWriter.Write(path, metadata, tensors.Select(t => new GgufTensorSpec(t.Name, t.Type, t.Shape)).ToArray(), i => tensors[i].Data);
        return path;
    }

    private string Legacy(params byte[][] parts)
    {
        var path = Path.Combine(_folder, Guid.NewGuid().ToString("N") + ".dat");
        File.WriteAllBytes(path, parts.SelectMany(p => p).ToArray());
        return path;
    }

    private static byte[] Int(int value) => BitConverter.GetBytes(value);

    private static byte[] Floats(params float[] values) => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
}

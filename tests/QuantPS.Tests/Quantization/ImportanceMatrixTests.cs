using QuantPS.Quantization;
using QuantPS.TestSupport;
using Xunit;

namespace QuantPS.Tests.Quantization;

/// <summary>The GGUF and legacy imatrix readers against llama-imatrix's outputs (golden/imatrix, README section 5).</summary>
public class ImportanceMatrixTests
{
    public static TheoryData<string> Models() => new() { "stories260K", "synth-256" };

    [Theory]
    [MemberData(nameof(Models))]
    public void GgufCarriesLlamaImatrixMetadata(string model)
    {
        var gguf = ImportanceMatrix.Load(SharedData.File($"golden/imatrix/{model}.imatrix.gguf"));

        Assert.Equal(ImportanceMatrixFormat.Gguf, gguf.Format);
        Assert.Equal(28, gguf.ChunkCount);
        Assert.Equal(128, gguf.ChunkSize);
        Assert.Equal(new[] { "text/calibration.txt" }, gguf.Datasets);
        Assert.NotEmpty(gguf.Values);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void LegacyCarriesItsTrailer(string model)
    {
        var legacy = ImportanceMatrix.Load(SharedData.File($"golden/imatrix/{model}.imatrix.dat"));

        Assert.Equal(ImportanceMatrixFormat.Legacy, legacy.Format);
        Assert.Equal(28, legacy.ChunkCount);
        Assert.Equal(0, legacy.ChunkSize);
        Assert.Equal(new[] { "text/calibration.txt" }, legacy.Datasets);
    }

    /// <summary>
    /// The legacy file stores (in_sum2 / count) × ncall with ncall = ceil(max count / chunk size), all in
    /// float: recomputing that from the GGUF sums must give the .dat bytes exactly.
    /// </summary>
    [Theory]
    [MemberData(nameof(Models))]
    public void LegacyBytesFollowFromTheGgufSums(string model)
    {
        var gguf = ImportanceMatrix.Load(SharedData.File($"golden/imatrix/{model}.imatrix.gguf"));
        var legacy = ImportanceMatrix.Load(SharedData.File($"golden/imatrix/{model}.imatrix.dat"));

        Assert.Equal(gguf.Raw.Keys.Order(StringComparer.Ordinal), legacy.Raw.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, entry) in gguf.Raw)
        {
            var stored = legacy.Raw[name];
            long ncall = (entry.Counts.Max() + gguf.ChunkSize - 1) / gguf.ChunkSize;
            Assert.Equal(ncall, stored.Counts[0]);
            int perMatrix = entry.Sums.Length / entry.Counts.Length;
            for (int i = 0; i < entry.Sums.Length; i++)
            {
                float count = entry.Counts[i / perMatrix];
                float expected = count == 0 ? 1f * ncall : entry.Sums[i] / count * ncall;
                Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(stored.Sums[i]),
                    $"{name}[{i}]: expected {expected:R}, .dat has {stored.Sums[i]:R}");
            }
        }
    }

    /// <summary>
    /// What llama-quantize hands the quantizers: GGUF gives in_sum2 / count, legacy gives
    /// ((in_sum2 / count) × ncall) / ncall. That float round trip could move a value by one ulp in
    /// general; for these goldens every value comes back bit-identical, so we hold both to that.
    /// </summary>
    [Theory]
    [MemberData(nameof(Models))]
    public void BothFormatsGiveTheSameVectors(string model)
    {
        var gguf = ImportanceMatrix.Load(SharedData.File($"golden/imatrix/{model}.imatrix.gguf"));
        var legacy = ImportanceMatrix.Load(SharedData.File($"golden/imatrix/{model}.imatrix.dat"));

        int total = 0;
        foreach (var (name, values) in gguf.Values)
        {
            var other = legacy.Values[name];
            Assert.Equal(values.Length, other.Length);
            for (int i = 0; i < values.Length; i++)
            {
                Assert.True(BitConverter.SingleToInt32Bits(values[i]) == BitConverter.SingleToInt32Bits(other[i]),
                    $"{name}[{i}]: GGUF {values[i]:R} vs legacy {other[i]:R}");
                total++;
            }
        }

        Assert.True(total > 0);
    }

    [Fact]
    public void VectorsMatchTensorShapesOfTheModel()
    {
        using var model = QuantPS.Gguf.GgufModel.Open(SharedData.File("golden/models/synth-256.gguf"));
        var imatrix = ImportanceMatrix.Load(SharedData.File("golden/imatrix/synth-256.imatrix.gguf"));

        int found = 0;
        foreach (var tensor in model.Tensors)
        {
            if (imatrix.ForTensor(tensor) is { } values)
            {
                Assert.Equal(tensor.Shape[0], values.Length);
                found++;
            }
        }

        Assert.Equal(imatrix.Values.Count, found);
        var first = model.Tensors.First(t => imatrix.Values.ContainsKey(t.Name));
        var error = Assert.Throws<QuantizationException>(() => imatrix.ForTensor(first.Name, new long[] { first.Shape[0] * 2, 4 }));
        Assert.Equal(QuantizationErrorIds.ImatrixSizeMismatch, error.ErrorId);
    }

    [Fact]
    public void TokenEmbeddingOfTheWrongSizeGoesWithoutImatrix()
    {
        // llama-quantize only warns for the token embeddings and quantizes them without an imatrix.
        var imatrix = new ImportanceMatrix("test", ImportanceMatrixFormat.Legacy,
            new Dictionary<string, ImportanceEntry> { ["token_embd.weight"] = new(new float[4], new long[] { 1 }) }, [], 1, 0);
        Assert.Null(imatrix.ForTensor("token_embd.weight", new long[] { 8, 2 }));
        Assert.NotNull(imatrix.ForTensor("token_embd.weight", new long[] { 4, 2 }));
    }
}

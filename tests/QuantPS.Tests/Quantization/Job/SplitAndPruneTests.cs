using System.Security.Cryptography;
using QuantPS.Gguf;
using QuantPS.Kernels;
using QuantPS.Quantization;
using QuantPS.Quantization.Job;
using QuantPS.TestSupport;
using QuantPS.Tests.Gguf;
using Xunit;

namespace QuantPS.Tests.Quantization.Job;

/// <summary>-KeepSplit (split inputs, one output per shard) and -PruneLayers.</summary>
public sealed class SplitAndPruneTests
{
    private static string Stories => SharedData.File("models/tinyllamas-stories260K/stories260K.gguf");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Sha(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path))).ToLowerInvariant();

    // stories260K cut into shards of at most 20 tensors (3 shards) by ModelSplitter. The hashes pin the
    // input, so the llama-quantize figures below stay about the same bytes.
    private static readonly string[] SplitInputSha =
    [
        "1d21a754ae6bceec8ad7473bed46dc924327ad7850ef5cbc7df3730edc60c0f6",
        "8c6f16561098103fd35d9ae1201e68490ca5b51d8b1c8b1faac73d1fe8208bc2",
        "488dccfe44374bb99dd3d10ca2e13750ede8b138e990f637dc14aa496289aa81",
    ];

    // `llama-quantize --keep-split stories-00001-of-00003.gguf out-ks.gguf Q4_K_M 1` (llama.cpp 3f545bec,
    // the golden build's commit) on that input, measured here.
    private static readonly string[] KeepSplitQ4KmSha =
    [
        "a09f50283d30976362c95cb4df23c2c047dd9b46f90c45ff411640d5b114575a",
        "081d62c04e8a58fedd844abf0194bc114afc8b0913a03182b36cbc8c6a253e34",
        "e09bc466c64d3d97073168bedd1d38602902c73c7500b7f3f45736bea7b174eb",
    ];

    private static string[] SplitStories(TempFolder temp)
    {
        using var model = GgufModel.Open(Stories);
        var shards = ModelSplitter.Write(model, temp.File("stories"), perShard: 20);
        Assert.Equal(SplitInputSha, shards.Select(Sha));
        return shards;
    }

    [Fact]
    public void KeepSplitWritesOneShardPerInputShardLikeLlamaQuantize()
    {
        using var temp = new TempFolder();
        var shards = SplitStories(temp);
        using var model = GgufModel.Open(shards[1]);
        var plan = QuantizePlan.Create(model, QuantizeFileType.Parse("Q4_K_M"), new QuantizeOptions { KeepSplit = true });

        Assert.Equal(3, plan.Outputs.Count);
        Assert.Equal([20, 20, 8], plan.Outputs.Select(o => o.Tensors.Count));
        var paths = plan.OutputPathsFor(temp.File("out-ks.gguf"));
        Assert.Equal(["out-ks-00001-of-00003.gguf", "out-ks-00002-of-00003.gguf", "out-ks-00003-of-00003.gguf"], paths.Select(Path.GetFileName));

        var result = QuantizeJob.Run(model, plan, temp.File("out-ks.gguf"), cancellationToken: Ct);
        Assert.Equal(paths, result.OutputPaths);
        Assert.Equal(KeepSplitQ4KmSha, paths.Select(Sha));
        Assert.Equal(plan.PredictedSize, paths.Sum(p => new FileInfo(p).Length));

        using var written = GgufModel.Open(paths[2]);
        Assert.Equal(3, written.Shards.Count);
        Assert.Equal(48, written.Tensors.Count);
    }

    [Fact]
    public void SplitInputWithoutKeepSplitGivesTheSingleFileOutput()
    {
        using var temp = new TempFolder();
        var shards = SplitStories(temp);
        using var model = GgufModel.Open(shards[0]);
        var plan = QuantizePlan.Create(model, QuantizeFileType.Parse("Q4_K_M"));
        Assert.Single(plan.Outputs);
        Assert.DoesNotContain(plan.Metadata, m => m.Key.StartsWith("split.", StringComparison.Ordinal));
        var result = QuantizeJob.Run(model, plan, temp.File("one.gguf"), cancellationToken: Ct);

        // llama-quantize gives the same bytes for the split input as for the original (its golden output).
        var golden = SharedData.File("golden/quantized/stories260K/stories260K-Q4_K_M.gguf");
        Assert.Equal(Sha(golden), Sha(result.OutputPath));
    }

    [Fact]
    public void KeepSplitOnASingleFileUsesTheShardNameOfOne()
    {
        using var temp = new TempFolder();
        using var model = GgufModel.Open(Stories);
        var plan = QuantizePlan.Create(model, QuantizeFileType.Parse("Q4_K_M"), new QuantizeOptions { KeepSplit = true });
        var result = QuantizeJob.Run(model, plan, temp.File("single.gguf"), cancellationToken: Ct);
        Assert.Equal("single-00001-of-00001.gguf", Path.GetFileName(result.OutputPath));
        // No split keys for one shard, but tensors in file order rather than the loader's, as
        // `llama-quantize --keep-split stories260K.gguf single.gguf Q4_K_M 1` writes them (measured here).
        Assert.Equal("d5cd53b8276ca9da5c26971e987201a062860716d2fc66ea5acdc4e4a0e7081e", Sha(result.OutputPath));
    }

    [Fact]
    public void AFailedShardLeavesNoShardBehind()
    {
        using var temp = new TempFolder();
        var shards = SplitStories(temp);
        using var model = GgufModel.Open(shards[0]);
        var plan = QuantizePlan.Create(model, QuantizeFileType.Parse("Q4_K_M"), new QuantizeOptions { KeepSplit = true });
        using var cts = new CancellationTokenSource();
        var before = temp.Entries().Order().ToArray();
        Assert.ThrowsAny<OperationCanceledException>(() => QuantizeJob.Run(model, plan, temp.File("c.gguf"),
            progress: p => { if (p.TensorsDone == 30) cts.Cancel(); }, cancellationToken: cts.Token));
        Assert.Equal(before, temp.Entries().Order().ToArray());
    }

    [Fact]
    public void AnExistingShardIsNotReplacedWithoutOverwrite()
    {
        using var temp = new TempFolder();
        var shards = SplitStories(temp);
        using var model = GgufModel.Open(shards[0]);
        var plan = QuantizePlan.Create(model, QuantizeFileType.Parse("Q4_K_M"), new QuantizeOptions { KeepSplit = true });
        File.WriteAllText(temp.File("o-00002-of-00003.gguf"), "keep me");
        var e = Assert.Throws<GgufException>(() => QuantizeJob.Run(model, plan, temp.File("o.gguf"), cancellationToken: Ct));
        Assert.Equal(GgufErrorKind.OutputExists, e.Kind);
        Assert.Equal("keep me", File.ReadAllText(temp.File("o-00002-of-00003.gguf")));
        Assert.False(File.Exists(temp.File("o-00001-of-00003.gguf")));
    }

    [Fact]
    public void PruneRenumbersTheKeptLayersAndSetsTheBlockCount()
    {
        using var temp = new TempFolder();
        using var model = GgufModel.Open(Stories);
        var plan = QuantizePlan.Create(model, QuantizeFileType.Parse("Q4_K_M"), new QuantizeOptions { PruneLayers = [3, 1, 3] });

        Assert.Equal(3 + 3 * 9, plan.Tensors.Count);
        var block = plan.Metadata[^1];
        Assert.Equal("llama.block_count", block.Key); // set last, after the file type keys
        Assert.Equal(3u, block.Value);
        // Layer 0 stays, 2 becomes 1, 4 becomes 2.
        foreach (var (kept, was) in new[] { (0, 0), (1, 2), (2, 4) })
        {
            var tensor = plan.Tensors.Single(t => t.Name == $"blk.{kept}.attn_q.weight");
            Assert.Equal($"blk.{was}.attn_q.weight", tensor.SourceName);
        }

        var result = QuantizeJob.Run(model, plan, temp.File("pruned.gguf"), cancellationToken: Ct);
        using var written = GgufModel.Open(result.OutputPath);
        Assert.Equal(3, written.Metadata.GetInteger("llama.block_count"));
        foreach (var t in plan.Tensors)
        {
            var expected = QuantizeOne(model, t, importance: null);
            Assert.True(expected.AsSpan().SequenceEqual(written.GetTensorData(written.FindTensor(t.Name)!)), $"{t.Name} does not hold {t.SourceName}'s data");
        }
    }

    [Fact]
    public void PruneUsesTheImportanceOfTheOriginalLayer()
    {
        using var temp = new TempFolder();
        using var model = GgufModel.Open(Stories);
        var matrix = ImportanceMatrix.Load(SharedData.File("golden/imatrix/stories260K.imatrix.gguf"));
        var plan = QuantizePlan.Create(model, QuantizeFileType.Parse("Q4_K_M"), new QuantizeOptions { PruneLayers = [1, 3], ImportanceMatrix = matrix });
        var result = QuantizeJob.Run(model, plan, temp.File("pruned-imatrix.gguf"), cancellationToken: Ct);
        using var written = GgufModel.Open(result.OutputPath);
        var moved = plan.Tensors.Single(t => t.Name == "blk.1.ffn_gate.weight");
        Assert.True(moved.UsesImportance);
        var expected = QuantizeOne(model, moved, matrix.Values[moved.SourceName]);
        Assert.True(expected.AsSpan().SequenceEqual(written.GetTensorData(written.FindTensor(moved.Name)!)));
        Assert.False(expected.AsSpan().SequenceEqual(QuantizeOne(model, moved, matrix.Values["blk.1.ffn_gate.weight"])));
    }

    [Theory]
    [InlineData(new[] { -1 }, "invalid layer id -1")]
    [InlineData(new[] { 5 }, "has 5 layers")]
    [InlineData(new[] { 0, 1, 2, 3, 4 }, "all 5 layers")]
    public void BadPruneListsAreRefused(int[] layers, string message)
    {
        using var model = GgufModel.Open(Stories);
        var e = Assert.Throws<QuantizationException>(() => QuantizePlan.Create(model, QuantizeFileType.Parse("Q4_K_M"), new QuantizeOptions { PruneLayers = layers }));
        Assert.Equal(QuantizeErrorIds.BadPruneLayers, e.ErrorId);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void KeepSplitRefusesAShardLeftEmptyByPruning()
    {
        using var temp = new TempFolder();
        using var source = GgufModel.Open(Stories);
        // Shards of 9 tensors; pruning every layer one shard holds (and no other tensor) empties it.
        var shards = ModelSplitter.Write(source, temp.File("small"), perShard: 9);
        using var model = GgufModel.Open(shards[0]);
        var layersByShard = model.Tensors.GroupBy(t => t.Shard)
            .Select(g => g.Select(t => LayerOf(t.Name)).ToHashSet()).ToArray();
        var emptiable = Enumerable.Range(0, layersByShard.Length).First(s => !layersByShard[s].Contains(-1) && layersByShard[s].Count < 5);
        var e = Assert.Throws<QuantizationException>(() => QuantizePlan.Create(model, QuantizeFileType.Parse("Q4_K_M"),
            new QuantizeOptions { KeepSplit = true, PruneLayers = layersByShard[emptiable].ToArray() }));
        Assert.Equal(QuantizeErrorIds.SplitShardEmpty, e.ErrorId);
    }

    private static int LayerOf(string name) =>
        name.StartsWith("blk.", StringComparison.Ordinal) ? int.Parse(name.Split('.')[1], System.Globalization.CultureInfo.InvariantCulture) : -1;

    private static byte[] QuantizeOne(GgufModel model, QuantizePlanTensor t, float[]? importance)
    {
        var source = model.GetTensorData(t.Source);
        if (!t.IsConverted) return source.ToArray();
        int rowLength = (int)t.Shape[0];
        long rows = t.Source.RowCount;
        var output = new byte[t.SizeBytes];
        int outRow = (int)GgmlTypeTraits.Get(t.Type).RowSizeBytes(rowLength);
        var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(source); // stories260K is F32
        for (int r = 0; r < rows; r++)
        {
            TypeQuantizer.Quantize(t.Type, values.Slice(r * rowLength, rowLength), rowLength, output.AsSpan(r * outRow, outRow), importance ?? ReadOnlySpan<float>.Empty);
        }

        return output;
    }
}

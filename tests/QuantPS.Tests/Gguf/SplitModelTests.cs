using QuantPS.Gguf;
using QuantPS.Kernels;
using Xunit;

namespace QuantPS.Tests.Gguf;

/// <summary>Split models (name-0000N-of-0000M.gguf with split.* keys) open as one model from any shard.</summary>
public sealed class SplitModelTests
{
    /// <summary>Writes a 3-shard model of 6 F32 tensors (2 per shard) the way llama-gguf-split lays it out.</summary>
    internal static string[] WriteShards(TempFolder temp, string prefix = "model", int count = 3, Func<int, IEnumerable<GgufMetadataEntry>>? extra = null)
    {
        var paths = new string[count];
        for (var i = 0; i < count; i++)
        {
            var metadata = new List<GgufMetadataEntry>();
            if (i == 0)
            {
                metadata.Add(GgufMetadataEntry.Of("general.architecture", "llama"));
            }

            metadata.Add(GgufMetadataEntry.Of(GgufSplit.NoKey, (ushort)i));
            metadata.Add(GgufMetadataEntry.Of(GgufSplit.CountKey, (ushort)count));
            metadata.Add(GgufMetadataEntry.Of(GgufSplit.TensorsCountKey, count * 2));
            metadata.AddRange(extra?.Invoke(i) ?? []);
            var specs = new[] { new GgufTensorSpec($"s{i}.a", GgmlType.F32, [8]), new GgufTensorSpec($"s{i}.b", GgmlType.F32, [4, 2]) };
            paths[i] = temp.File(GgufSplit.ShardName(prefix, i + 1, count));
            GgufWriter.Write(paths[i], metadata, specs, t => Enumerable.Repeat((byte)(i * 16 + t), 32).ToArray());
        }

        return paths;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void Any_shard_opens_the_whole_model(int opened)
    {
        using var temp = new TempFolder();
        var paths = WriteShards(temp);

        using var model = GgufModel.Open(paths[opened]);

        Assert.True(model.IsSplit);
        Assert.Equal(paths, model.Shards.Select(s => s.Location));
        Assert.Equal(6, model.Tensors.Count);
        Assert.Equal("llama", model.Metadata.GetString("general.architecture"));
        Assert.Equal(paths.Sum(p => new FileInfo(p).Length), model.FileLength);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(Enumerable.Repeat((byte)(i * 16 + 1), 32), model.GetTensorData(model.FindTensor($"s{i}.b")!).ToArray());
            Assert.Equal(i, model.FindTensor($"s{i}.a")!.Shard);
        }

        var info = GgufModelInfo.From(model);
        Assert.Equal(3, info.ShardCount);
        Assert.Equal(6 * 8, info.ParameterCount);
    }

    [Fact]
    public void A_missing_shard_is_named()
    {
        using var temp = new TempFolder();
        var paths = WriteShards(temp);
        File.Delete(paths[1]);

        var error = Assert.Throws<GgufException>(() => GgufModel.Open(paths[0]));
        Assert.Equal(GgufErrorKind.SplitIncomplete, error.Kind);
        Assert.Contains("model-00002-of-00003.gguf", error.Message);
    }

    [Fact]
    public void Shards_that_do_not_belong_together_are_refused()
    {
        using var temp = new TempFolder();
        var paths = WriteShards(temp);
        var other = WriteShards(temp, "other");
        File.Copy(other[0], paths[1], overwrite: true); // shard 2's name, shard 1's content

        Assert.Equal(GgufErrorKind.SplitMismatch, Assert.Throws<GgufException>(() => GgufModel.Open(paths[0])).Kind);
    }

    [Fact]
    public void A_shard_renamed_away_from_the_convention_is_refused_with_advice()
    {
        using var temp = new TempFolder();
        var paths = WriteShards(temp);
        var renamed = temp.File("renamed.gguf");
        File.Move(paths[0], renamed);

        var error = Assert.Throws<GgufException>(() => GgufModel.Open(renamed));
        Assert.Equal(GgufErrorKind.SplitIncomplete, error.Kind);
        Assert.Contains("-of-00003.gguf", error.Message);
    }

    [Fact]
    public void A_split_model_written_back_is_one_file_without_split_keys()
    {
        using var temp = new TempFolder();
        var paths = WriteShards(temp);
        using var model = GgufModel.Open(paths[0]);

        GgufWriter.Copy(model, temp.File("merged.gguf"));

        using var merged = GgufModel.Open(temp.File("merged.gguf"));
        Assert.False(merged.IsSplit);
        Assert.Equal(model.Tensors.Select(t => t.Name), merged.Tensors.Select(t => t.Name));
        Assert.DoesNotContain(merged.Metadata, m => m.Key.StartsWith("split.", StringComparison.Ordinal));
    }
}

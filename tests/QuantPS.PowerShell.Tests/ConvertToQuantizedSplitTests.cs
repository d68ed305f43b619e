using System.Security.Cryptography;
using QuantPS.Gguf;
using QuantPS.Quantization.Job;
using QuantPS.TestSupport;

namespace QuantPS.PowerShell.Tests;

/// <summary>ConvertTo-Quantized on split models (-KeepSplit, wildcards over shards) and -PruneLayers.</summary>
public sealed class ConvertToQuantizedSplitTests(PowerShellSession session) : IClassFixture<PowerShellSession>
{
    private const string Command = "QuantPS.PowerShell.ConvertToQuantizedCommand";

    private static string Sha(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path))).ToLowerInvariant();

    /// <summary>A fresh folder with stories260K cut into 3 shards (stories-0000N-of-00003.gguf).</summary>
    private string SplitStories(out string folder)
    {
        folder = session.TempPath("split-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        using var model = GgufModel.Open(ModelFiles.Stories);
        return ModelSplitter.Write(model, Path.Combine(folder, "stories"), perShard: 20)[0];
    }

    [Fact]
    public void Wildcard_over_shards_quantizes_the_model_once_to_the_model_stem()
    {
        SplitStories(out var folder);

        var result = session.Run("ConvertTo-Quantized ([System.IO.Path]::Combine($Folder, '*.gguf')) -Type Q4_K_M -Verbose 4>&1", ("Folder", folder));

        Assert.Empty(result.Errors);
        var written = Path.Combine(folder, "stories-Q4_K_M.gguf");
        Assert.Equal(Sha(SharedData.File("golden/quantized/stories260K/stories260K-Q4_K_M.gguf")), Sha(written));
        Assert.Equal(4, Directory.GetFiles(folder).Length); // 3 shards in, one file out, nothing else
        Assert.Equal(2, result.Output.Count(o => o.BaseObject is System.Management.Automation.VerboseRecord v && v.Message.Contains("already quantized", StringComparison.Ordinal)));
    }

    [Fact]
    public void KeepSplit_writes_one_file_per_shard_and_PassThru_returns_the_whole_model()
    {
        var first = SplitStories(out var folder);

        var result = session.Run("ConvertTo-Quantized $Model -Type Q4_K_M -KeepSplit -PassThru", ("Model", first));

        Assert.Empty(result.Errors);
        var info = result.Single<GgufModelInfo>();
        Assert.Equal(3, info.ShardCount);
        Assert.Equal(48, info.TensorCount);
        for (int i = 1; i <= 3; i++)
        {
            Assert.True(File.Exists(Path.Combine(folder, $"stories-Q4_K_M-{i:D5}-of-00003.gguf")));
        }
    }

    [Fact]
    public void KeepSplit_WhatIf_lists_every_output_and_refuses_an_existing_shard_without_Force()
    {
        var first = SplitStories(out var folder);

        var plan = session.Run("ConvertTo-Quantized $Model -Type Q5_K_S -KeepSplit -WhatIf", ("Model", first));
        Assert.Empty(plan.Errors);
        Assert.Equal(3, plan.Single<QuantizePlan>().Outputs.Count);
        var outputs = (object[])ScriptResult.Note(plan.Output[0], "OutputPaths")!;
        Assert.Equal(3, outputs.Length);
        Assert.Equal(3, Directory.GetFiles(folder).Length);

        File.WriteAllText((string)outputs[2], "mine");
        var refused = session.Run("ConvertTo-Quantized $Model -Type Q5_K_S -KeepSplit", ("Model", first));
        Assert.Equal("GgufOutputExists," + Command, Assert.Single(refused.Errors).FullyQualifiedErrorId);
        Assert.Equal("mine", File.ReadAllText((string)outputs[2]));

        var forced = session.Run("ConvertTo-Quantized $Model -Type Q5_K_S -KeepSplit -Force", ("Model", first));
        Assert.Empty(forced.Errors);
        Assert.NotEqual("mine", File.ReadAllText((string)outputs[2]));
    }

    [Fact]
    public void PruneLayers_drops_and_renumbers_layers()
    {
        var folder = session.TempPath("prune-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        var output = Path.Combine(folder, "pruned.gguf");

        var result = session.Run("ConvertTo-Quantized $Model -Type F16 -OutFile $Out -PruneLayers 1,3 -PassThru", ("Model", ModelFiles.Stories), ("Out", output));

        Assert.Empty(result.Errors);
        var info = result.Single<GgufModelInfo>();
        Assert.Equal(3 + 3 * 9, info.TensorCount);
        using var written = GgufModel.Open(output);
        Assert.Equal(3, written.Metadata.GetInteger("llama.block_count"));
        Assert.Null(written.FindTensor("blk.3.attn_q.weight"));
    }

    [Fact]
    public void PruneLayers_naming_a_layer_the_model_lacks_is_refused()
    {
        var result = session.Run("ConvertTo-Quantized $Model -Type F16 -OutFile $Out -PruneLayers 9",
            ("Model", ModelFiles.Stories), ("Out", session.TempPath("never.gguf")));

        var error = Assert.Single(result.Errors);
        Assert.Equal("QuantizeBadPruneLayers," + Command, error.FullyQualifiedErrorId);
        Assert.Contains("has 5 layers", error.Exception.Message);
        Assert.False(File.Exists(session.TempPath("never.gguf")));
    }
}

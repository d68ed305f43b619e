using QuantPS.Gguf;
using QuantPS.Kernels;

namespace QuantPS.PowerShell.Tests;

/// <summary>What Get-GgufInfo reports for real and made models: the summary, -Tensor and -Metadata.</summary>
public sealed class GetGgufInfoTests(PowerShellSession session) : IClassFixture<PowerShellSession>
{
    [Fact]
    public void Stories260K_summary_has_the_models_hyperparameters()
    {
        var path = ModelFiles.Stories;

        var info = session.Run("Get-GgufInfo -Path $Model", ("Model", path)).Single<GgufModelInfo>();

        Assert.Equal(Path.GetFullPath(path), info.Path);
        Assert.Equal("llama", info.Architecture);
        Assert.Equal("F32", info.FileType);
        Assert.Equal(3u, info.GgufVersion);
        Assert.Equal(48, info.TensorCount);
        Assert.Equal(48, info.Tensors.Length);
        Assert.Equal(5, info.BlockCount);
        Assert.Equal(64, info.EmbeddingLength);
        Assert.Equal(8, info.HeadCount);
        Assert.Equal(4, info.HeadCountKv);
        Assert.Equal(512, info.VocabularySize);
        Assert.Equal(2048, info.ContextLength);
        Assert.Equal(1, info.ShardCount);
        Assert.Equal(new FileInfo(path).Length, info.SizeBytes);
        Assert.Equal(info.Tensors.Sum(t => t.ElementCount), info.ParameterCount);
        Assert.Equal(32.0, info.BitsPerWeight, precision: 3); // F32 throughout
    }

    [Fact]
    public void ParameterCount_is_the_sum_of_the_tensor_element_counts_that_Tensor_lists()
    {
        var result = session.Run(
            "$info = Get-GgufInfo $Model; $sum = 0L; Get-GgufInfo $Model -Tensor | ForEach-Object { $sum += $_.ElementCount }; $info.ParameterCount; $sum",
            ("Model", ModelFiles.Stories));

        Assert.Empty(result.Errors);
        Assert.Equal(result.Output[1].BaseObject, result.Output[0].BaseObject);
    }

    [Fact]
    public void Tensor_emits_one_GgufTensorInfo_per_tensor_with_the_models_path()
    {
        var path = ModelFiles.Stories;

        var result = session.Run("Get-GgufInfo -Path $Model -Tensor", ("Model", path));

        Assert.Empty(result.Errors);
        var tensors = result.Objects<GgufTensorInfo>();
        Assert.Equal(48, tensors.Count);
        var embedding = Assert.Single(tensors, t => t.Name == "token_embd.weight");
        Assert.Equal(GgmlType.F32, embedding.Type);
        Assert.Equal([64L, 512L], embedding.Shape);
        Assert.Equal(64 * 512, embedding.ElementCount);
        Assert.Equal(64 * 512 * 4, embedding.SizeBytes);
        Assert.All(result.Output, o => Assert.Equal(Path.GetFullPath(path), ScriptResult.Note(o, "ModelPath")));
    }

    [Fact]
    public void Tensor_output_filters_and_groups_in_the_pipeline()
    {
        var result = session.Run(
            "Get-GgufInfo $Model -Tensor | Where-Object { $_.Type -eq 'F32' -and $_.Name -like 'blk.0.*' } | ForEach-Object Name",
            ("Model", ModelFiles.Stories));

        Assert.Empty(result.Errors);
        var names = result.Output.Select(o => (string)o.BaseObject).ToList();
        Assert.Equal(9, names.Count); // attn q/k/v/output + norm, ffn gate/up/down + norm
        Assert.All(names, n => Assert.StartsWith("blk.0.", n));
    }

    [Fact]
    public void Metadata_emits_key_type_and_value_per_entry_in_file_order()
    {
        var path = ModelFiles.Stories;

        var result = session.Run("Get-GgufInfo -LiteralPath $Model -Metadata", ("Model", path));

        Assert.Empty(result.Errors);
        var entries = result.Objects<GgufMetadataEntry>();
        using var model = GgufModel.Open(path);
        Assert.Equal(model.Metadata.Select(e => e.Key), entries.Select(e => e.Key));
        Assert.Equal("llama", Assert.Single(entries, e => e.Key == "general.architecture").Value);
        var tokens = Assert.Single(entries, e => e.Key == "tokenizer.ggml.tokens");
        Assert.Equal("Array[String]", tokens.TypeName);
        Assert.Equal(512, Assert.IsType<GgufArray>(tokens.Value).Count);
        Assert.All(result.Output, o => Assert.Equal(Path.GetFullPath(path), ScriptResult.Note(o, "ModelPath")));
    }

    [Fact]
    public void Metadata_value_can_be_picked_by_key()
    {
        var path = ModelFiles.WriteTiny(session.TempPath("pick.gguf"), name: "picked");

        var result = session.Run(
            "(Get-GgufInfo $Model -Metadata | Where-Object Key -eq 'general.name').Value",
            ("Model", path));

        Assert.Equal("picked", result.Single<string>());
    }

    [Fact]
    public void Made_model_reports_what_was_written()
    {
        var path = ModelFiles.WriteTiny(session.TempPath("made.gguf"), name: "made");

        var info = session.Run("Get-GgufInfo $Model", ("Model", path)).Single<GgufModelInfo>();

        Assert.Equal("made", info.Name);
        Assert.Equal(ModelFiles.TinyParameterCount, info.ParameterCount);
        Assert.Equal(ModelFiles.TinyVocabularySize, info.VocabularySize);
        Assert.Equal(2, info.TensorCount);
        Assert.Equal("tokenizer.ggml.tokens", info.Metadata.Keys.Cast<string>().Last());
    }

    [Fact]
    public void Tensor_and_Metadata_together_are_refused()
    {
        var path = ModelFiles.WriteTiny(session.TempPath("both.gguf"));

        var result = session.Run(
            "try { Get-GgufInfo $Model -Tensor -Metadata } catch { $_ }",
            ("Model", path));

        var error = result.Single<System.Management.Automation.ErrorRecord>();
        Assert.StartsWith("GgufInvalidArgument,", error.FullyQualifiedErrorId);
    }

    [Fact]
    public void Model_file_is_released_after_reading()
    {
        var path = ModelFiles.WriteTiny(session.TempPath("released.gguf"));

        session.Run("Get-GgufInfo $Model -Tensor", ("Model", path));

        // A mapping left open would keep the file locked on Windows; exclusive open proves it is released everywhere.
        using (new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
        {
        }

        File.Delete(path);
    }
}

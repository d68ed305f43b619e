using QuantPS.Gguf;
using QuantPS.Inference.Engine;
using QuantPS.Tests.Gguf;
using QuantPS.TestSupport;
using Xunit;

namespace QuantPS.Tests.Engine;

public sealed unsafe class ModelLoadingTests
{
    [Fact]
    public void Hyperparameters_come_from_the_metadata()
    {
        using var model = LlmModel.Load(SharedData.File(ModelEdits.Stories));
        var c = model.Config;
        Assert.Equal(("llama", 5, 64, 172, 8, 4, 8, 512, 2048), (c.Architecture, c.LayerCount, c.EmbeddingLength, c.FeedForwardLength,
            c.HeadCount, c.KvHeadCount, c.HeadDimension, c.VocabularySize, c.TrainedContextLength));
        Assert.Equal(1e-5f, c.RmsNormEpsilon);
        Assert.Equal(10000f, c.RopeFreqBase);
        Assert.Equal((RopeLayout.Normal, 8, 1f), (c.RopeLayout, c.RopeDimensions, c.RopeFreqScale));
        Assert.Equal(1f / MathF.Sqrt(8), c.AttentionScale);
    }

    [Fact]
    public void Weights_are_views_into_the_mapped_file()
    {
        var gguf = GgufModel.Open(SharedData.File(ModelEdits.Stories));
        using var model = LlmModel.FromGguf(gguf);
        Assert.True(gguf.GetTensorPointer(gguf.FindTensor("blk.0.attn_q.weight")!) == model.Weights.Layers[0].Query.Data);
        Assert.True(gguf.GetTensorPointer(gguf.FindTensor("blk.4.ffn_down.weight")!) == model.Weights.Layers[4].Down.Data);
        Assert.True(gguf.GetTensorPointer(gguf.FindTensor("token_embd.weight")!) == model.Weights.TokenEmbedding);
        Assert.True((float*)gguf.GetTensorPointer(gguf.FindTensor("output_norm.weight")!) == model.Weights.OutputNorm);
        Assert.Equal("output.weight", model.Weights.Output.Name);
    }

    // Inference streams every weight per token, so the engine asks Linux for 2 MiB pages over the mapping; smaps
    // shows the advice as the VmFlags "hg". (Elsewhere, or on a kernel built without huge pages, there is none.)
    [Fact]
    public void The_mapping_is_advised_for_huge_pages_on_Linux()
    {
        if (!OperatingSystem.IsLinux() || !Directory.Exists("/sys/kernel/mm/transparent_hugepage"))
        {
            return;
        }

        using var temp = new TempFolder(); // a copy no other test maps
        var path = Path.GetFullPath(Path.Combine(temp.Path, "stories.gguf"));
        File.Copy(SharedData.File(ModelEdits.Stories), path);
        string Flags()
        {
            var lines = File.ReadAllLines("/proc/self/smaps");
            var start = Array.FindIndex(lines, line => line.EndsWith(" " + path, StringComparison.Ordinal));
            Assert.True(start >= 0, $"{path} is not mapped");
            return lines.Skip(start + 1).First(line => line.StartsWith("VmFlags:", StringComparison.Ordinal));
        }

        using (var gguf = GgufModel.Open(path))
        {
            Assert.DoesNotContain(" hg", Flags(), StringComparison.Ordinal); // reading metadata alone asks nothing
        }

        using var model = LlmModel.Load(path);
        Assert.Contains(" hg", Flags(), StringComparison.Ordinal);
    }

    [Fact]
    public void An_unsupported_architecture_is_named_with_the_supported_ones()
    {
        using var temp = new TempFolder();
        var path = ModelEdits.Copy(temp.Path, ModelEdits.Stories, "gpt2.gguf", new Dictionary<string, object?> { ["general.architecture"] = "gpt2" });
        var e = Assert.Throws<LlmException>(() => LlmModel.Load(path));
        Assert.Equal("LlmUnsupportedArchitecture", e.ErrorId);
        Assert.Equal("gpt2", e.Subject);
        Assert.Contains("'gpt2'", e.Message, StringComparison.Ordinal);
        Assert.Contains("supported: llama", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_tensor_or_key_is_named()
    {
        using var temp = new TempFolder();
        var noTensor = ModelEdits.Copy(temp.Path, ModelEdits.Stories, "no-up.gguf", dropTensors: ["blk.3.ffn_up.weight"]);
        var e = Assert.Throws<LlmException>(() => LlmModel.Load(noTensor));
        Assert.Equal((LlmErrorKind.MissingTensor, "blk.3.ffn_up.weight"), (e.Kind, e.Subject));

        var noKey = ModelEdits.Copy(temp.Path, ModelEdits.Stories, "no-key.gguf", new Dictionary<string, object?> { ["llama.embedding_length"] = null });
        e = Assert.Throws<LlmException>(() => LlmModel.Load(noKey));
        Assert.Equal((LlmErrorKind.MissingMetadata, "llama.embedding_length"), (e.Kind, e.Subject));

        var badHeads = ModelEdits.Copy(temp.Path, ModelEdits.Stories, "bad-heads.gguf", new Dictionary<string, object?> { ["llama.attention.head_count_kv"] = 3u });
        e = Assert.Throws<LlmException>(() => LlmModel.Load(badHeads));
        Assert.Equal((LlmErrorKind.InvalidMetadata, "llama.attention.head_count_kv"), (e.Kind, e.Subject));
    }

    [Fact]
    public void A_misshapen_tensor_is_an_error_naming_it()
    {
        using var temp = new TempFolder();
        var path = ModelEdits.Copy(temp.Path, ModelEdits.Stories, "ff.gguf", new Dictionary<string, object?> { ["llama.feed_forward_length"] = 128u });
        var e = Assert.Throws<LlmException>(() => LlmModel.Load(path));
        Assert.Equal(LlmErrorKind.InvalidTensor, e.Kind);
        Assert.Equal("blk.0.ffn_gate.weight", e.Subject);
    }

    [Fact]
    public void Without_output_weight_the_embedding_is_tied_and_logits_follow()
    {
        using var temp = new TempFolder();
        var path = ModelEdits.Copy(temp.Path, ModelEdits.Stories, "tied.gguf", dropTensors: ["output.weight"]);
        using var tied = LlmModel.Load(path);
        Assert.Equal("token_embd.weight", tied.Weights.Output.Name);
        Assert.True(tied.Weights.Output.Data == tied.Weights.TokenEmbedding);
        using var context = tied.CreateContext(new ContextOptions { ContextLength = 64, Threads = 1 });
        var logits = context.Decode(1, TestContext.Current.CancellationToken);
        Assert.All(logits.ToArray(), v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void Bad_tokens_and_a_full_context_are_clear_errors()
    {
        using var model = LlmModel.Load(SharedData.File(ModelEdits.Stories));
        using var context = model.CreateContext(new ContextOptions { ContextLength = 4, Threads = 1 });
        var e = Assert.Throws<LlmException>(() => context.Decode(512, TestContext.Current.CancellationToken));
        Assert.Equal(LlmErrorKind.InvalidToken, e.Kind);
        Assert.Equal(0, context.Position);
        e = Assert.Throws<LlmException>(() => context.Decode([1, 2, 3, 4, 5], TestContext.Current.CancellationToken));
        Assert.Equal(LlmErrorKind.ContextFull, e.Kind);
        context.Decode([1, 2, 3, 4], TestContext.Current.CancellationToken);
        Assert.Equal(4, context.Position);
        Assert.Throws<LlmException>(() => context.Decode(5, TestContext.Current.CancellationToken));
    }

    [Fact]
    public void A_Q8_0_cache_needs_a_head_size_divisible_by_32_as_in_llama_cpp()
    {
        using var model = LlmModel.Load(SharedData.File(ModelEdits.Stories));
        var e = Assert.Throws<LlmException>(() => model.CreateContext(new ContextOptions { KvCacheType = KvCacheType.Q8_0 }));
        Assert.Equal(LlmErrorKind.InvalidOption, e.Kind);
        Assert.Contains("head dimension 8", e.Message, StringComparison.Ordinal);
    }
}

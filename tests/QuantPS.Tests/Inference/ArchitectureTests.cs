using System.Security.Cryptography;
using QuantPS.Gguf;
using QuantPS.Inference.Engine;
using QuantPS.Tests.Gguf;
using QuantPS.TestSupport;
using Xunit;

namespace QuantPS.Tests.Engine;

/// <summary>
/// The architectures beyond llama against llama.cpp's logits for the synthetic models of
/// <see cref="SyntheticArchitectures"/>: qwen2 (Q/K/V biases), qwen3 (per-head Q/K RMS norm), gemma (scaled
/// embeddings, GeGLU, tied output), gemma2 (post-norms, soft-caps, sliding window), phi3 (fused QKV and gate/up,
/// LongRoPE factors); all NEOX RoPE. Reference files: Inference/Data (see its README).
/// </summary>
public sealed class ArchitectureTests
{
    // F16 weights and an F16 KV cache: measured at most 0.003 (gemma2 p2, one token at a time); synth-256's flat attention
    // keeps the architectures' own effects small (phi3 is 0.21 from llama), so a looser bound would hide them.
    private const float Tolerance = 0.01f;

    [Theory]
    [InlineData("qwen2", "p1_short")]
    [InlineData("qwen3", "p1_short")]
    [InlineData("gemma", "p1_short")]
    [InlineData("gemma2", "p1_short")]
    [InlineData("gemma2", "p2_paragraph")]
    [InlineData("phi3", "p1_short")]
    public void Synthetic_model_logits_match_llama_cpp(string architecture, string prompt)
    {
        using var temp = new TempFolder();
        using var model = LlmModel.Load(SyntheticArchitectures.Write(temp.Path, architecture));
        Assert.Equal((architecture, RopeLayout.Neox), (model.Config.Architecture, model.Config.RopeLayout));
        using var context = model.CreateContext(new ContextOptions { ContextLength = 512, Threads = 2 });
        var ids = GoldenLogits.Ids("synth-256-F16", prompt + ".prompt_ids.txt");
        var expected = Reference(architecture, prompt);

        // The whole prompt in one batch (p2's 168 queries take the tiled attention path), then one token at a time.
        var batch = GoldenLogits.MaxAbsDiff(expected, context.EvaluateAll(ids, TestContext.Current.CancellationToken));
        context.Reset();
        var steps = 0f;
        var vocab = model.Config.VocabularySize;
        for (var t = 0; t < ids.Length; t++)
        {
            var row = context.Decode(ids[t], TestContext.Current.CancellationToken);
            steps = Math.Max(steps, GoldenLogits.MaxAbsDiff(expected.AsSpan(t * vocab, vocab), row));
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"{architecture} {prompt}: max |Δlogit| batch {batch}, one token at a time {steps}");
        Assert.True(batch <= Tolerance, $"batch: max |Δlogit| {batch}");
        Assert.True(steps <= Tolerance, $"one token at a time: max |Δlogit| {steps}");

        // The architecture's own parts matter: the llama model these were made from is far from them.
        var llama = GoldenLogits.Floats("synth-256-F16", prompt + ".logits.f32");
        var apart = GoldenLogits.MaxAbsDiff(expected, llama);
        Assert.True(apart > 10 * Tolerance, $"llama vs {architecture}: max |Δlogit| only {apart}");
    }

    [Fact]
    public void Gemma2_sliding_window_and_soft_caps_matter()
    {
        using var temp = new TempFolder();
        var path = SyntheticArchitectures.Write(temp.Path, "gemma2");
        var expected = Reference("gemma2", "p1_short");
        var ids = GoldenLogits.Ids("synth-256-F16", "p1_short.prompt_ids.txt");
        foreach (var (key, value) in new (string, object)[]
        {
            ("gemma2.attention.sliding_window", 4096u),
            ("gemma2.attn_logit_softcapping", 1000f),
            ("gemma2.final_logit_softcapping", 1000f),
        })
        {
            using var model = LlmModel.Load(Edit(temp.Path, path, $"{key}.gguf", metadata: new Dictionary<string, object> { [key] = value }));
            using var context = model.CreateContext(new ContextOptions { ContextLength = 512, Threads = 2 });
            var apart = GoldenLogits.MaxAbsDiff(expected, context.EvaluateAll(ids, TestContext.Current.CancellationToken));
            Assert.True(apart > 5 * Tolerance, $"{key} = {value}: max |Δlogit| only {apart}");
        }
    }

    [Fact]
    public void Architecture_settings_follow_llama_cpp()
    {
        using var temp = new TempFolder();
        using (var gemma = LlmModel.Load(SyntheticArchitectures.Write(temp.Path, "gemma")))
        {
            var c = gemma.Config;
            Assert.Equal((16f, 0.125f, 1f, FeedForwardActivation.Gelu), (c.EmbeddingScale, c.QueryScale, c.AttentionScale, c.Activation));
            Assert.Equal("token_embd.weight", gemma.Weights.Output.Name);
        }

        using (var gemma2 = LlmModel.Load(SyntheticArchitectures.Write(temp.Path, "gemma2")))
        {
            var c = gemma2.Config;
            Assert.Equal((SyntheticArchitectures.Gemma2AttentionSoftCap, SyntheticArchitectures.Gemma2FinalSoftCap, 8), (c.AttentionSoftCap, c.FinalLogitSoftCap, c.SlidingWindow));
            Assert.Equal([true, false, true, false, true, false], Enumerable.Range(0, 6).Select(c.IsSlidingWindowLayer));
        }

        var gguf = GgufModel.Open(SyntheticArchitectures.Write(temp.Path, "phi3"));
        using var phi3 = LlmModel.FromGguf(gguf);
        Assert.Equal((0, 0.125f, 1f, FeedForwardActivation.Silu), (phi3.Config.SlidingWindow, phi3.Config.QueryScale, phi3.Config.AttentionScale, phi3.Config.Activation));
        PhiViews(gguf, phi3.Config, phi3.Weights);
    }

    private static unsafe void PhiViews(GgufModel gguf, ModelConfig config, ModelWeights weights)
    {
        // Fused tensors are split into views of the mapped file: F16 rows of 256 values are 512 bytes.
        var layer = weights.Layers[1];
        var qkv = gguf.GetTensorPointer(gguf.FindTensor("blk.1.attn_qkv.weight")!);
        var up = gguf.GetTensorPointer(gguf.FindTensor("blk.1.ffn_up.weight")!);
        Assert.True(layer.Query.Data - qkv == 0 && layer.Key.Data - qkv == 256 * 512 && layer.Value.Data - qkv == 384 * 512);
        Assert.True(layer.Gate.Data - up == 0 && layer.Up.Data - up == 512 * 512);
        Assert.Equal((256, 128, 512, 512), (layer.Query.Rows, layer.Value.Rows, layer.Gate.Rows, layer.Up.Rows));

        // LongRoPE: llama.cpp pads the context to 256 and takes the long factors past the original context (256).
        Assert.True(Rope.FactorsFor(config, weights, 512) == weights.RopeFactorsLong);
        Assert.True(Rope.FactorsFor(config, weights, 257) == weights.RopeFactorsLong);
        Assert.True(Rope.FactorsFor(config, weights, 200) == weights.RopeFactorsShort);
        Assert.True(weights.RopeFactorsShort != null && weights.RopeFactorsLong != weights.RopeFactorsShort);
    }

    [Theory]
    [InlineData("qwen3", "blk.0.attn_q_norm.weight")]
    [InlineData("gemma", "blk.2.ffn_gate.weight")]
    [InlineData("gemma2", "blk.3.post_attention_norm.weight")]
    [InlineData("gemma2", "blk.0.post_ffw_norm.weight")]
    [InlineData("phi3", "blk.0.attn_qkv.weight")]
    [InlineData("phi3", "blk.4.ffn_up.weight")]
    public void A_missing_tensor_is_named(string architecture, string tensor)
    {
        using var temp = new TempFolder();
        var broken = Edit(temp.Path, SyntheticArchitectures.Write(temp.Path, architecture), "broken.gguf", drop: tensor);
        var e = Assert.Throws<LlmException>(() => LlmModel.Load(broken));
        Assert.Equal((LlmErrorKind.MissingTensor, tensor), (e.Kind, e.Subject));
        Assert.Contains(tensor, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unsupported_architecture_lists_the_supported_ones()
    {
        using var temp = new TempFolder();
        var path = Edit(temp.Path, SyntheticArchitectures.Write(temp.Path, "gemma"), "gemma3.gguf",
            metadata: new Dictionary<string, object> { ["general.architecture"] = "gemma3" });
        var e = Assert.Throws<LlmException>(() => LlmModel.Load(path));
        Assert.Equal((LlmErrorKind.UnsupportedArchitecture, "gemma3"), (e.Kind, e.Subject));
        Assert.Contains("'gemma3' is not supported yet; supported: llama, qwen2, qwen2moe, qwen3, qwen3moe, phi3, phimoe, gemma, gemma2.", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Gelu_table_equals_ggml()
    {
        // sha256 of ggml_table_gelu_f16 (65536 little-endian F16 values) as ggml_cpu_init fills it in the reference build,
        // every NaN written as 0x7E00: NaN in, NaN out, and only the sign/payload of the 2047 NaN entries may differ.
        var bits = Activations.GeluTable.Select(f => float.IsNaN(f) ? (ushort)0x7E00 : BitConverter.HalfToUInt16Bits((Half)f)).ToArray();
        var bytes = new byte[bits.Length * 2];
        Buffer.BlockCopy(bits, 0, bytes, 0, bytes.Length);
        Assert.Equal("30379488306c56c52c6dcc70e80e8d37568b7d7b7bf869317d4a95cba3908b77", Convert.ToHexStringLower(SHA256.HashData(bytes)));
    }

    private static float[] Reference(string architecture, string prompt) =>
        GoldenLogits.TestData($"synth-256-{architecture}.{prompt}.logits.f32");

    // A copy of a model with one tensor dropped or metadata values replaced.
    private static string Edit(string folder, string path, string name, string? drop = null, IReadOnlyDictionary<string, object>? metadata = null)
    {
        using var source = GgufModel.Open(path);
        var tensors = source.Tensors.Where(t => t.Name != drop).ToList();
        var entries = source.Metadata.Select(e => metadata is not null && metadata.TryGetValue(e.Key, out var v) ? GgufMetadataEntry.Of(e.Key, v) : e).ToList();
        var target = Path.Combine(folder, name);
        GgufWriter.Write(target, entries, tensors.Select(t => new GgufTensorSpec(t.Name, t.Type, t.Shape)).ToList(), i => source.GetTensorData(tensors[i]).ToArray());
        return target;
    }
}

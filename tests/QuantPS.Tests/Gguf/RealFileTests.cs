using QuantPS.Gguf;
using QuantPS.Kernels;
using QuantPS.TestSupport;
using Xunit;

namespace QuantPS.Tests.Gguf;

/// <summary>The reader against real files from ../shared: llama.cpp's own outputs and the trained demo model.</summary>
public sealed class RealFileTests
{
    private const string Stories = "models/tinyllamas-stories260K/stories260K.gguf";

    [Fact]
    public void Stories260K_has_the_shape_the_models_readme_states()
    {
        using var model = GgufModel.Open(SharedData.File(Stories));
        var info = GgufModelInfo.From(model);

        Assert.Equal(3u, info.GgufVersion);
        Assert.Equal(48, model.Tensors.Count);
        Assert.Equal("llama", info.Architecture);
        Assert.Equal(5, info.BlockCount);
        Assert.Equal(64, info.EmbeddingLength);
        Assert.Equal(8, info.HeadCount);
        Assert.Equal(4, info.HeadCountKv);
        Assert.Equal(512, info.VocabularySize);
        Assert.Equal(2048, info.ContextLength);
        Assert.Equal("llama", info.TokenizerModel);
        Assert.Equal("F32", info.FileType);
        Assert.Equal(model.Tensors.Sum(t => t.ElementCount), info.ParameterCount);
        Assert.Equal(new FileInfo(model.Location).Length, info.SizeBytes);
        Assert.All(model.Tensors, t => Assert.Equal(GgmlType.F32, t.Type));
    }

    [Fact]
    public void Stories260K_tensor_offsets_and_sizes_tile_the_data_section_exactly()
    {
        using var model = GgufModel.Open(SharedData.File(Stories));
        var header = model.Header;
        ulong expected = 0;
        foreach (var tensor in model.Tensors)
        {
            Assert.Equal(expected, tensor.Offset);
            Assert.Equal(tensor.ElementCount * 4, tensor.SizeBytes);
            Assert.Equal(0, header.AbsoluteOffset(tensor) % header.Alignment);
            expected += (ulong)((tensor.SizeBytes + header.Alignment - 1) / header.Alignment * header.Alignment);
        }

        // The file is exactly header + padding + padded tensors: nothing before, between or after.
        Assert.Equal(header.FileLength, header.DataOffset + (long)expected);
        Assert.Equal(header.DataLength, (long)expected);
    }

    [Fact]
    public void Stories260K_tensor_data_is_reachable_through_the_mapping()
    {
        using var model = GgufModel.Open(SharedData.File(Stories));
        var norm = model.FindTensor("output_norm.weight")!;
        var floats = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(model.GetTensorData(norm));

        Assert.Equal(64, floats.Length);
        Assert.All(floats.ToArray(), f => Assert.True(float.IsFinite(f) && f != 0));

        // The same bytes as a plain read of the file at the tensor's absolute offset.
        var raw = new byte[norm.SizeBytes];
        using (var stream = File.OpenRead(model.Location))
        {
            stream.Position = model.Header.AbsoluteOffset(norm);
            stream.ReadExactly(raw);
        }

        Assert.Equal(raw, model.GetTensorData(norm).ToArray());
    }

    public static TheoryData<string> VocabularyFiles() => new(
        "models/llama.cpp-vocab/ggml-vocab-baichuan.gguf",
        "models/llama.cpp-vocab/ggml-vocab-bert-bge.gguf",
        "models/llama.cpp-vocab/ggml-vocab-deepseek-coder.gguf",
        "models/llama.cpp-vocab/ggml-vocab-gpt-2.gguf",
        "models/llama.cpp-vocab/ggml-vocab-gpt-neox.gguf",
        "models/llama.cpp-vocab/ggml-vocab-llama-spm.gguf",
        "models/llama.cpp-vocab/ggml-vocab-mpt.gguf",
        "models/llama.cpp-vocab/ggml-vocab-phi-3.gguf",
        "models/llama.cpp-vocab/ggml-vocab-refact.gguf",
        "models/ollama/llama-2-tiny-random.gguf");

    [Theory]
    [MemberData(nameof(VocabularyFiles))]
    public void Every_shared_vocabulary_file_reads_without_findings(string relative)
    {
        using var model = GgufModel.Open(SharedData.File(relative));
        var tokens = model.Metadata.GetArray("tokenizer.ggml.tokens");

        Assert.NotNull(tokens);
        Assert.Equal(GgufValueType.String, tokens.ElementType);
        Assert.True(tokens.Count >= 1000, $"{relative}: {tokens.Count} tokens");
        Assert.NotNull(model.Metadata.GetString("tokenizer.ggml.model"));
        Assert.Empty(model.Header.Findings);
    }

    [Fact]
    public void Version1_file_reads_with_an_incompatibility_finding()
    {
        using var v1 = GgufModel.Open(SharedData.File("models/gguf-v1/tinyllamas-stories-260k-f32.gguf"));
        using var v3 = GgufModel.Open(SharedData.File(Stories));

        Assert.Equal(1u, v1.Header.Version);
        Assert.Contains(v1.Header.Findings, f => f.Check == "GgufVersion1" && f.Severity == GgufSeverity.Incompatible);
        Assert.Equal(v3.Tensors.Select(t => (t.Name, t.Type, string.Join(",", t.Shape))).Order(),
                     v1.Tensors.Select(t => (t.Name, t.Type, string.Join(",", t.Shape))).Order());
        var embedding = v1.FindTensor("token_embd.weight")!;
        Assert.Equal(v3.GetTensorData(v3.FindTensor("token_embd.weight")!).ToArray(), v1.GetTensorData(embedding).ToArray());
    }

    /// <summary>Every quantized file llama-quantize wrote: names, types and shapes as its listing says, file type as its name says.</summary>
    [Fact]
    public void Every_golden_quantized_file_matches_its_tensor_listing()
    {
        var folder = SharedData.File("golden/quantized");
        var files = Directory.GetFiles(Path.Combine(folder, "stories260K"), "*.gguf")
            .Concat(Directory.GetFiles(Path.Combine(folder, "synth-256"), "*.gguf")).ToArray();
        Assert.True(files.Length >= 50, $"only {files.Length} golden files");

        foreach (var file in files)
        {
            var stem = Path.GetFileNameWithoutExtension(file);
            var listing = File.ReadAllLines(Path.Combine(folder, "tensor-types", stem + ".tsv")).Skip(1)
                .Select(line => line.Split('\t')).ToArray();
            using var model = GgufModel.Open(file);

            Assert.Equal(listing.Select(l => l[0]), model.Tensors.Select(t => t.Name));
            Assert.Equal(listing.Select(l => l[1]), model.Tensors.Select(t => t.Type.ToString()));
            Assert.Equal(listing.Select(l => l[2]), model.Tensors.Select(t => string.Join(",", t.Shape)));
            Assert.Equal(ExpectedFileType(stem), GgufModelInfo.From(model).FileType);
        }
    }

    /// <summary>"stories260K-Q4_K_M-imatrix" → Q4_K_M; the aliases Q3_K/Q4_K/Q5_K are the medium mixes.</summary>
    private static string ExpectedFileType(string stem)
    {
        var withoutModel = stem.StartsWith("synth-256-", StringComparison.Ordinal) ? stem["synth-256-".Length..] : stem.Split('-', 2)[1];
        var type = withoutModel.Split('-')[0];
        return type switch
        {
            "Q3_K" => "Q3_K_M",
            "Q4_K" => "Q4_K_M",
            "Q5_K" => "Q5_K_M",
            _ => type,
        };
    }
}

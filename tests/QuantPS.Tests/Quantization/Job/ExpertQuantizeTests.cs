using System.Security.Cryptography;
using QuantPS.Gguf;
using QuantPS.Quantization;
using QuantPS.Quantization.Job;
using QuantPS.TestSupport;
using Xunit;

namespace QuantPS.Tests.Quantization.Job;

/// <summary>
/// Mixture-of-experts models quantized byte for byte as llama-quantize does: their 3-D ffn_*_exps tensors (one
/// importance row per expert, the layer read from the name), the F32 router left alone, and the mixes' rules for
/// 8-expert models (attn_v/attn_k and ffn_down bumped, as for Mixtral). Models: SyntheticExperts' llama-moe8 (Mixtral's
/// 8 experts, 2 used), qwen3moe (8 of 3, 256-wide experts), qwen2moe (8 of 2 beside a shared expert) and phimoe (4 of 2, biased norms). The hashes are of
/// <c>llama-quantize model.gguf out.gguf TYPE 2</c> of llama.cpp 3f545bec (tests/QuantPS.Tests/Inference/Data/README.md
/// says how the models were exported; IQ3_XXS and below need an importance matrix there, so they are not listed).
/// </summary>
public sealed class ExpertQuantizeTests : IClassFixture<ExpertQuantizeTests.Models>
{
    private readonly Models _models;

    public ExpertQuantizeTests(Models models) => _models = models;

    [Theory]
    [InlineData("llama-moe8", "IQ3_M", "0127c68575770dc0f27074b31f1862b90e3314ce037c6129f773123a13340edc")]
    [InlineData("llama-moe8", "IQ4_XS", "f3fe559020fd47a92e4663247775e9395560f0a31076782aaccd8da81543aeef")]
    [InlineData("llama-moe8", "Q2_K", "bae9c1c6c58bb95f67ebc78c2161f4669c0223e3670d2d1bef0038725b86c9f2")]
    [InlineData("llama-moe8", "Q3_K_L", "a224794592dfa91ab3993cce65192ab6887dc60cf51999b7d812db22227ec144")]
    [InlineData("llama-moe8", "Q3_K_M", "12b6a5a94762f83348b0affac239154b53912d7c01c3fe81b4944f615f96decc")]
    [InlineData("llama-moe8", "Q3_K_S", "0a77769519e3825fd52f3350e03707871964de78a4d18a19ad7d81b4ed124faa")]
    [InlineData("llama-moe8", "Q4_0", "cb8de9d578a8f3e23848a504eb4514a8e551431fcae2b5a572f6ae5732f8bae9")]
    [InlineData("llama-moe8", "Q4_K_M", "ea3255f14fe88a290209e82fee8c2d37c99ffd44e9e60a3be38ea1b3081aa577")]
    [InlineData("llama-moe8", "Q4_K_S", "d86a799f840dfec4d7186fcb6e5f96ba5f86e0bd68a32e17691d149ed33ef17d")]
    [InlineData("llama-moe8", "Q5_K_M", "efb1b34e6c149d8a0b8bb1c772afacaa714688578385ee896a7b16e0f6eeceee")]
    [InlineData("llama-moe8", "Q5_K_S", "acb6784f33c3452de9e7d429a4d3d574bd4a1e6a7962aadf9c0d0a1b7e2f9249")]
    [InlineData("llama-moe8", "Q6_K", "d8121b93ec95299169a115fa23d3b36764b3f27701625fb1894c430c9d4c589c")]
    [InlineData("llama-moe8", "Q8_0", "520af12033780e9ba6965a53cc5904dc90634265d485ff949b095db8dd791175")]
    [InlineData("qwen3moe", "IQ3_M", "8764579d9681d2e4d4ee61bc8d454421422da41ecaed004db13fa122e02331c2")]
    [InlineData("qwen3moe", "IQ4_XS", "63e86eec40787af5645528bc67af269dc1a87a077fbab75b0029eb75f66d1e02")]
    [InlineData("qwen3moe", "Q2_K", "9fbba1c1ff00102629c6dfcbba65c35e4dc98bdfdc4e15ee89651918547532da")]
    [InlineData("qwen3moe", "Q3_K_L", "60d5ce96f0a2e06ee249cdd7f5e072e0ef65f68702faf0a93e28a6a90bbfd5f7")]
    [InlineData("qwen3moe", "Q3_K_M", "59632e4343ec6544c1aefd8b64b62fa8c1d88a05c86212146b2e725280a180ac")]
    [InlineData("qwen3moe", "Q3_K_S", "dd4a893e6370590e068a173d5737da5bac3dfdaa38a6f8a203d7291ef54b024b")]
    [InlineData("qwen3moe", "Q4_0", "58349815f34552e6993463e01c373840ea201fa453be60ae8b95a79829cf8e56")]
    [InlineData("qwen3moe", "Q4_K_M", "d206fad68718581ccca51c41502718ebee78287ba2d72ea6a58f74c7085abb05")]
    [InlineData("qwen3moe", "Q4_K_S", "eee12171debadc66674c682ced88f7d38c4c825d8c64fce109a19fb556c665b6")]
    [InlineData("qwen3moe", "Q5_K_M", "85e6fc89c64802ca150904cf9afd809034eff1760aad2f9bd1c5c232cd5841da")]
    [InlineData("qwen3moe", "Q5_K_S", "402b8160f6d9db77b7a45806578966144e5739336ab86a4ea80a909bf67b20f0")]
    [InlineData("qwen3moe", "Q6_K", "fac8cf424354a848951cda650c6076ad24ca69dc8aa6fcbf074d6a19e24dd7f2")]
    [InlineData("qwen3moe", "Q8_0", "d97d6244a489401b30243e68b765ecdad2601ca27ccc5fcc6374a305357b05eb")]
    [InlineData("qwen2moe", "IQ3_M", "08168108f0d0070932c2d89f25632086bd8e24563f4811a180c01509835cffe5")]
    [InlineData("qwen2moe", "IQ4_XS", "4ed1277b448b901076510a05adf78300019aac023ac56c6f2dd0b418fa4ebb5e")]
    [InlineData("qwen2moe", "Q2_K", "fc50b1a8cb24324d806e2d54fda0383ab7dfd05a1a150afc18a5dd642ef856e3")]
    [InlineData("qwen2moe", "Q3_K_M", "bf8a25a98de3c5f5e7dc645b8e4d0403fffa96e1db029cbb4f8ec83fbddc392d")]
    [InlineData("qwen2moe", "Q4_K_M", "3b06191a4a84f466556fab2f04af03d8bae909f34b74dccf97a374b960e06f1f")]
    [InlineData("qwen2moe", "Q5_K_M", "401327d546afdb6ef047170cdbf81ace4f04b5656e60e8862e56e4ab81600c29")]
    [InlineData("qwen2moe", "Q6_K", "e058f4d48be130d02655d1f60a305aed959b5a73dfb26b969b794d50a53a0505")]
    [InlineData("qwen2moe", "Q8_0", "0d93fa694088eb8b668c79c28370d7926c8721d681fa0335e66c3e1059f853c0")]
    [InlineData("phimoe", "Q2_K", "0f06ddd67b674177b7984448b7b0965b74d702e2c05c3c272eaceb06c6215be9")]
    [InlineData("phimoe", "Q4_K_M", "c622167605197cd78ee17be054a915edc0ad6b4eaaf443941baf8477479a8687")]
    [InlineData("phimoe", "Q6_K", "ba835780a64461997d85a0d7944beacc10e82967b34be426f172aee39f89cf5a")]
    [InlineData("phimoe", "Q8_0", "06c3529642da46b97575c66fcc8ffe7f518058eaffe33a5fa3b3b06663c71926")]
    public void Reproduces_llama_quantize(string model, string type, string sha256)
    {
        using var input = GgufModel.Open(_models.Path(model));
        var output = System.IO.Path.Combine(_models.Folder, $"{model}-{type}.gguf");
        try
        {
            QuantizeJob.Run(input, QuantizePlan.Create(input, QuantizeFileType.Parse(type)), output, overwrite: true,
                cancellationToken: TestContext.Current.CancellationToken);
            Assert.Equal(sha256, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(output))));
        }
        finally
        {
            File.Delete(output);
        }
    }

    /// <summary>The F16 models, written once for the class.</summary>
    public sealed class Models : IDisposable
    {
        private readonly Dictionary<string, string> _paths = [];

        public string Folder { get; } = Directory.CreateTempSubdirectory("quantps-moe-quantize-").FullName;

        public string Path(string name)
        {
            lock (_paths)
            {
                if (!_paths.TryGetValue(name, out var path))
                {
                    path = SyntheticExperts.Write(Folder, SyntheticExperts.Get(name));
                    _paths[name] = path;
                }

                return path;
            }
        }

        public void Dispose() => Directory.Delete(Folder, recursive: true);
    }
}

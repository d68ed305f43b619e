#Requires -Version 7.4
# Pester 5 tests for ConvertTo-Quantized: llama-quantize's bytes, -WhatIf, refusals, no leftovers.
# Run: ./build.ps1 -Test, or after a build: Invoke-Pester ./tests/pester

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $noStories = -not (Find-SharedFile 'models/tinyllamas-stories260K/stories260K.gguf')
    $noGolden = -not (Find-SharedFile 'golden/quantized/MANIFEST.tsv')
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-QuantPSModule
    $stories = Find-SharedFile 'models/tinyllamas-stories260K/stories260K.gguf'
    $manifest = Find-SharedFile 'golden/quantized/MANIFEST.tsv'

    function Get-GoldenSha([string] $Output) {
        (Get-Content -LiteralPath $manifest | ForEach-Object { , ($_ -split "`t") } | Where-Object { $_[1] -eq $Output })[3]
    }

    function Get-Sha([string] $Path) {
        (Get-FileHash -LiteralPath $Path -Algorithm SHA256).Hash.ToLowerInvariant()
    }
}

Describe 'ConvertTo-Quantized' {
    Context 'stories260K from ../shared (skipped without it)' -Skip:($noStories -or $noGolden) {
        BeforeEach {
            $folder = Join-Path $TestDrive ([guid]::NewGuid().ToString('N'))
            New-Item -ItemType Directory -Path $folder | Out-Null
            Copy-Item -LiteralPath $stories -Destination $folder
            $model = Join-Path $folder 'stories260K.gguf'
        }

        It 'writes <stem>-<Type>.gguf with the sha256 of llama-quantize for <Type>' -TestCases @(
            @{ Type = 'Q4_K_M' }
            @{ Type = 'Q6_K' }
            @{ Type = 'IQ4_XS' }
            @{ Type = 'F16' }
        ) {
            Get-ChildItem -LiteralPath $folder -Filter *.gguf | ConvertTo-Quantized -Type $Type
            $written = Join-Path $folder "stories260K-$Type.gguf"
            Get-Sha $written | Should -Be (Get-GoldenSha "stories260K-$Type.gguf")
            @(Get-ChildItem -LiteralPath $folder -Force).Count | Should -Be 2
        }

        It '-WhatIf returns the plan and writes nothing; the size is exact' {
            $plan = ConvertTo-Quantized $model -Type Q5_K_M -WhatIf
            $plan | Should -BeOfType ([QuantPS.Quantization.Job.QuantizePlan])
            $plan.Tensors.Count | Should -Be 48
            @(Get-ChildItem -LiteralPath $folder).Count | Should -Be 1
            $info = ConvertTo-Quantized $model -Type Q5_K_M -PassThru
            $info.SizeBytes | Should -Be $plan.PredictedSize
        }

        It 'refuses an existing output without -Force' {
            Set-Content -LiteralPath (Join-Path $folder 'stories260K-F16.gguf') -Value 'keep'
            { ConvertTo-Quantized $model -Type F16 -ErrorAction Stop } | Should -Throw -ErrorId 'GgufOutputExists*'
            ConvertTo-Quantized $model -Type F16 -Force
            Get-Sha (Join-Path $folder 'stories260K-F16.gguf') | Should -Be (Get-GoldenSha 'stories260K-F16.gguf')
        }

        It 'names the tensor with no fallback and suggests -TensorType' {
            { ConvertTo-Quantized $model -Type Q8_0 -ErrorAction Stop } | Should -Throw -ErrorId 'QuantizeNoTypeFallback*'
            ConvertTo-Quantized $model -Type Q8_0 -TensorType @{ ffn_down = 'f16' } -OutFile (Join-Path $folder 'q8.gguf')
            Get-Sha (Join-Path $folder 'q8.gguf') | Should -Be (Get-GoldenSha 'stories260K-Q8_0-ffn_down-f16.gguf')
        }

        It 'gives <ErrorId> for <Case>' -TestCases @(
            @{ Case = 'a bad type name'; Arguments = @{ Type = 'Q4_K_X' }; ErrorId = 'QuantizeUnknownType*' }
            @{ Case = 'the input as output'; Arguments = @{ Type = 'F16'; Force = $true; OutFile = '<model>' }; ErrorId = 'QuantizeOutputIsInput*' }
        ) {
            if ($Arguments.OutFile -eq '<model>') { $Arguments.OutFile = $model }
            { ConvertTo-Quantized -LiteralPath $model @Arguments -ErrorAction Stop } | Should -Throw -ErrorId $ErrorId
        }

        It 'completes -Type on Tab' {
            $line = 'ConvertTo-Quantized x.gguf -Type Q5_K_'
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Be @('Q5_K_S', 'Q5_K_M')
        }
    }
}

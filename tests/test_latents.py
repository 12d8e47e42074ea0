"""prx_nb.latents: every kind loaded from a saved tiny checkpoint, pipeline folders, bad input."""
import pytest
import torch

from prx_nb.latents import (AUTOENCODER_KINDS, Flux2Latents, IdentityLatents, KLLatents, load_latent_space,
                            save_tiny_autoencoder)

IMAGES = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1


@pytest.mark.parametrize("kind", AUTOENCODER_KINDS)
def test_every_kind_loads_encodes_and_decodes(kind, tmp_path):
    save_tiny_autoencoder(kind, tmp_path)
    space = load_latent_space(kind, str(tmp_path))
    z = space.encode(IMAGES)
    assert z.shape == (3, *space.latent_shape(16)) and z.dtype == torch.float32
    assert not z.requires_grad
    assert torch.equal(z, space.encode(IMAGES))  # the posterior mean is deterministic
    assert space.decode(z).shape == IMAGES.shape
    assert space.noise_scale(512) == 1.0


def test_pipeline_folder_uses_its_vae_subfolder(tmp_path):
    save_tiny_autoencoder("flux", tmp_path / "vae")
    space = load_latent_space("flux", str(tmp_path))
    assert isinstance(space, KLLatents) and space.channels == 4


def test_flux2_layouts_agree(tmp_path):
    save_tiny_autoencoder("flux2", tmp_path)
    flat, packed = Flux2Latents.from_pretrained(str(tmp_path)), Flux2Latents.from_pretrained(str(tmp_path), patchified=True)
    z, zp = flat.encode(IMAGES), packed.encode(IMAGES)
    assert zp.shape == (3, 16, 4, 4) and z.shape == (3, 4, 8, 8)
    assert torch.allclose(flat.decode(z), packed.decode(zp), atol=1e-5)


def test_identity_round_trip_and_noise_scale():
    pixels = load_latent_space("identity")
    assert isinstance(pixels, IdentityLatents)
    assert torch.equal(pixels.decode(pixels.encode(IMAGES)), IMAGES)
    assert [pixels.noise_scale(r) for r in (128, 256, 512, 1024)] == [0.5, 1.0, 2.0, 4.0]


def test_bad_input_names_the_value(tmp_path):
    with pytest.raises(ValueError, match="kind='vq'"):
        load_latent_space("vq")
    with pytest.raises(FileNotFoundError, match="no such directory"):
        load_latent_space("dc-ae", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        IdentityLatents().encode(IMAGES[0])
    save_tiny_autoencoder("flux", tmp_path)
    with pytest.raises(ValueError, match="not divisible by patch_size=3"):
        load_latent_space("flux", str(tmp_path)).token_count(32, 3)

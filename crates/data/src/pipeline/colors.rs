//! Object colours from the images: for each selected view where two visible objects share a
//! label ([`colour_wanted`]), the colour image is read and decoded and each of those objects'
//! pixels (the view's instance map, at the depth camera) is named ([`view_color_shares`]).

use std::collections::{BTreeMap, BTreeSet};

use crate::io::frames::read_color_checked;
use crate::qa::colors::view_color_shares;
use crate::qa::generate::colour_wanted;
use crate::qa::SceneQaInput;
use crate::render::RenderedView;
use crate::scene::{Frame, ImageSource, InstanceId};

use super::analysis::depth_render;

/// The colour image of a view as read for its colours: the encoded bytes, or why the view
/// must be dropped.
pub type ReadImage = Result<Vec<u8>, String>;

/// Fills [`crate::qa::ViewInput::colors`] of the views that need colours. Returns the image
/// bytes read on the way (by frame index), so that the row does not read them again, and
/// keeps the depth renders it made in `renders`.
pub fn add_view_colors(
    input: &mut SceneQaInput,
    renders: &mut BTreeMap<usize, RenderedView>,
) -> BTreeMap<usize, ReadImage> {
    let scene = input.scene;
    let mut images = BTreeMap::new();
    for index in 0..input.views.len() {
        let wanted: BTreeSet<u32> = colour_wanted(input, &input.views[index])
            .into_iter()
            .map(|id| id.0)
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let frame_index = input.views[index].selected.frame_index;
        let frame = &scene.frames[frame_index];
        let Some(source) = &frame.color_image else {
            continue;
        };
        let decoded = read_image(frame, source).and_then(|bytes| {
            let rgb = image::load_from_memory(&bytes)
                .map_err(|err| {
                    format!(
                        "frame {}: colour image does not decode ({err}), view dropped",
                        frame.id
                    )
                })?
                .into_rgb8();
            Ok((bytes, rgb))
        });
        let measured = decoded.and_then(|(bytes, rgb)| {
            let (_, rendered) = depth_render(scene, frame_index, renders.remove(&frame_index))?;
            let shares = view_color_shares(
                &rgb,
                &rendered.instance,
                rendered.width,
                rendered.height,
                &wanted,
            );
            renders.insert(frame_index, rendered);
            Ok((bytes, shares))
        });
        match measured {
            Ok((bytes, shares)) => {
                input.views[index].colors = shares
                    .into_iter()
                    .map(|(id, s)| (InstanceId(id), s))
                    .collect();
                images.insert(frame_index, Ok(bytes));
            }
            Err(warning) => {
                images.insert(frame_index, Err(warning));
            }
        }
    }
    images
}

/// The colour image of a frame, checked against its camera, or the warning that drops the view.
pub(super) fn read_image(frame: &Frame, source: &ImageSource) -> ReadImage {
    read_color_checked(source, (frame.color.width, frame.color.height)).map_err(|problem| {
        format!(
            "frame {}: colour image unreadable ({problem}), view dropped",
            frame.id
        )
    })
}

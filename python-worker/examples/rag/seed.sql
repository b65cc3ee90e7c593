-- Two tenants' catalogues. Only products are written here: their triggers queue one outbox
-- row each, and the `embed` jobs the relay submits make the chunks (never written by hand).

INSERT INTO products (tenant, sku, name, description) VALUES
    ('acme', 'TRAIL-BOOT', 'Trail Runner boots',
     'Lightweight hiking boots with a breathable mesh upper. A waterproof membrane keeps your feet dry in rain and shallow streams. The rubber soles grip on wet rock and muddy trails.'),
    ('acme', 'SUMMIT-2', 'Summit 2 tent',
     'A two-person tent that weighs 1.9 kg packed. The flysheet is rated to 3000 mm of water, so the tent stays dry in steady rain. It pitches in under five minutes with one pole.'),
    ('acme', 'GLACIER-DOWN', 'Glacier down jacket',
     'A warm down jacket filled with 800-fill down. It packs into its own chest pocket. The shell sheds light rain but it is not waterproof: wear a shell over it in a storm.'),
    ('acme', 'CANYON-24', 'Canyon daypack',
     'A 24 litre daypack with a hydration sleeve and a padded hip belt. A rain cover is stored in the base pocket. The back panel is ventilated for hot days.'),
    ('acme', 'NOVA-LAMP', 'Nova headlamp',
     'A rechargeable headlamp with 400 lumens. One charge lasts 40 hours on the low setting. It is rated IPX4: splashes and rain are fine, but it must not be submerged.'),
    ('globex', 'KETTLE-PRO', 'Kettle Pro',
     'A 1.7 litre stainless steel kettle that boils a full load in four minutes. It switches itself off when the water boils or when the kettle is empty.'),
    ('globex', 'ESPRESSO-ONE', 'Espresso One',
     'A 15 bar espresso machine with a steam wand for milk. The water tank holds 1.2 litres and lifts out for filling.'),
    ('globex', 'GRILL-COVER', 'Grill cover',
     'A waterproof cover for kettle grills up to 60 cm. It keeps rain and snow off the grill all winter. Straps hold it in place in strong wind.'),
    ('globex', 'TOASTER-DUO', 'Toaster Duo',
     'A two-slice toaster with wide slots for bagels. Seven browning levels and a defrost button. The crumb tray slides out for cleaning.'),
    ('globex', 'BLENDER-MAX', 'Blender Max',
     'A 1200 watt blender with a 2 litre glass jug. It crushes ice in seconds. The blades lift out, and the jug is dishwasher safe.');
